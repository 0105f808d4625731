//! SCRAM-SHA-1 and SCRAM-SHA-256 (rfc5802, rfc7677), with channel binding
//! for their -PLUS forms: `tls-exporter` (rfc9266) and
//! `tls-server-end-point` (rfc5929). The server side only; the host runs
//! it, so the guest relays base64 and never sees a key.
//!
//! Credentials are kept as Dovecot keeps them, so Dovecot users bring
//! their entries unchanged: `{SCRAM-SHA-256}<iterations>,<salt>,<StoredKey>,<ServerKey>`
//! with the last three in base64. From those the server can check a
//! client's proof and prove itself, but not log in as the user (rfc5802 9).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// rfc7677 4, rfc5802 9: servers should announce at least 4096.
pub const MIN_ITERATIONS: u32 = 4096;
/// What `imapd passwd --scheme SCRAM-*` writes: above the floor, and a
/// login still costs only a few milliseconds.
pub const DEFAULT_ITERATIONS: u32 = 10_000;
/// Stored entries above this are refused (a login must not cost seconds).
pub const MAX_ITERATIONS: u32 = 10_000_000;
/// Random bytes in the server's part of the nonce (base64: 32 characters).
const SERVER_NONCE_BYTES: usize = 24;
/// Length of salts `imapd passwd` writes.
pub const SALT_BYTES: usize = 16;

/// The hash function of a SCRAM mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScramHash {
    Sha1,
    Sha256,
}

impl ScramHash {
    /// The mechanism name (without -PLUS), which is also the password
    /// file's scheme name.
    pub fn name(self) -> &'static str {
        match self {
            ScramHash::Sha1 => "SCRAM-SHA-1",
            ScramHash::Sha256 => "SCRAM-SHA-256",
        }
    }

    /// `SCRAM-SHA-1[-PLUS]` / `SCRAM-SHA-256[-PLUS]`, case-insensitive.
    pub fn from_mechanism(mech: &str) -> Option<(ScramHash, bool)> {
        let m = mech.to_ascii_uppercase();
        let (base, plus) = match m.strip_suffix("-PLUS") {
            Some(b) => (b.to_string(), true),
            None => (m, false),
        };
        match base.as_str() {
            "SCRAM-SHA-1" => Some((ScramHash::Sha1, plus)),
            "SCRAM-SHA-256" => Some((ScramHash::Sha256, plus)),
            _ => None,
        }
    }

    fn len(self) -> usize {
        match self {
            ScramHash::Sha1 => 20,
            ScramHash::Sha256 => 32,
        }
    }

    pub(crate) fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        match self {
            ScramHash::Sha1 => {
                let mut m = <Hmac<Sha1> as Mac>::new_from_slice(key).expect("any key length");
                m.update(data);
                m.finalize().into_bytes().to_vec()
            }
            ScramHash::Sha256 => {
                let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("any key length");
                m.update(data);
                m.finalize().into_bytes().to_vec()
            }
        }
    }

    pub(crate) fn h(self, data: &[u8]) -> Vec<u8> {
        match self {
            ScramHash::Sha1 => Sha1::digest(data).to_vec(),
            ScramHash::Sha256 => Sha256::digest(data).to_vec(),
        }
    }

    /// rfc5802 3: SaltedPassword := Hi(Normalize(password), salt, i),
    /// which is PBKDF2 with HMAC.
    pub(crate) fn salted_password(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        let mut out = vec![0u8; self.len()];
        match self {
            ScramHash::Sha1 => pbkdf2::pbkdf2_hmac::<Sha1>(password, salt, iterations, &mut out),
            ScramHash::Sha256 => {
                pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out)
            }
        }
        out
    }
}

/// A user's SCRAM credentials (rfc5802 3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKeys {
    pub hash: ScramHash,
    pub iterations: u32,
    pub salt: Vec<u8>,
    pub stored_key: Vec<u8>,
    pub server_key: Vec<u8>,
}

impl StoredKeys {
    /// The credentials for `password`. rfc5802 2.2 asks for SASLprep of
    /// the password; we use its bytes as they are, as Dovecot does, which
    /// is the same for any ASCII password.
    pub fn derive(hash: ScramHash, password: &[u8], salt: &[u8], iterations: u32) -> StoredKeys {
        let salted = hash.salted_password(password, salt, iterations);
        let client_key = hash.hmac(&salted, b"Client Key");
        StoredKeys {
            hash,
            iterations,
            salt: salt.to_vec(),
            stored_key: hash.h(&client_key),
            server_key: hash.hmac(&salted, b"Server Key"),
        }
    }

    /// New credentials with a random salt and [`DEFAULT_ITERATIONS`].
    pub fn generate(hash: ScramHash, password: &[u8]) -> StoredKeys {
        let salt: [u8; SALT_BYTES] = rand::random();
        StoredKeys::derive(hash, password, &salt, DEFAULT_ITERATIONS)
    }

    /// Dovecot's stored form (after `{SCRAM-SHA-256}`):
    /// `iterations,salt,StoredKey,ServerKey`, the last three base64.
    pub fn parse(hash: ScramHash, text: &str) -> Result<StoredKeys, String> {
        let fields: Vec<&str> = text.split(',').collect();
        let [iterations, salt, stored, server] = fields[..] else {
            return Err(format!(
                "{{{}}} wants iterations,salt,StoredKey,ServerKey",
                hash.name()
            ));
        };
        let iterations: u32 = iterations
            .parse()
            .map_err(|_| format!("iteration count {iterations:?} is not a number"))?;
        if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
            return Err(format!(
                "iteration count {iterations} is outside {MIN_ITERATIONS}..={MAX_ITERATIONS}"
            ));
        }
        let decode =
            |what: &str, v: &str| B64.decode(v).map_err(|_| format!("{what} is not base64"));
        let keys = StoredKeys {
            hash,
            iterations,
            salt: decode("salt", salt)?,
            stored_key: decode("StoredKey", stored)?,
            server_key: decode("ServerKey", server)?,
        };
        if keys.salt.is_empty() {
            return Err("empty salt".into());
        }
        if keys.stored_key.len() != hash.len() || keys.server_key.len() != hash.len() {
            return Err(format!("keys are not {} bytes long", hash.len()));
        }
        Ok(keys)
    }

    /// The password file field: `{SCRAM-SHA-256}iterations,salt,StoredKey,ServerKey`.
    pub fn to_field(&self) -> String {
        format!(
            "{{{}}}{},{},{},{}",
            self.hash.name(),
            self.iterations,
            B64.encode(&self.salt),
            B64.encode(&self.stored_key),
            B64.encode(&self.server_key)
        )
    }

    /// A plaintext password (LOGIN, PLAIN) against these credentials.
    pub fn verify_password(&self, password: &[u8]) -> bool {
        let again = StoredKeys::derive(self.hash, password, &self.salt, self.iterations);
        ct_eq(&again.stored_key, &self.stored_key)
    }

    /// Credentials no password matches, for users who have none of this
    /// kind: the exchange runs to the proof and fails there, so a client
    /// cannot tell an unknown user from a wrong password (rfc5802 9). The
    /// salt is a keyed hash of the name, the same at every try, and the
    /// count is the one `imapd passwd` writes.
    pub fn unusable(hash: ScramHash, user: &str) -> StoredKeys {
        static SECRET: std::sync::OnceLock<[u8; 32]> = std::sync::OnceLock::new();
        let secret = SECRET.get_or_init(rand::random);
        let salt = ScramHash::Sha256.hmac(secret, user.as_bytes());
        let random: [u8; 32] = rand::random();
        StoredKeys {
            hash,
            iterations: DEFAULT_ITERATIONS,
            salt: salt[..SALT_BYTES].to_vec(),
            stored_key: random[..hash.len()].to_vec(),
            server_key: random[..hash.len()].to_vec(),
        }
    }
}

/// Constant-time equality (lengths are not secret).
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// The channel bindings this TLS connection can offer.
#[derive(Debug, Clone, Default)]
pub struct ChannelBindings {
    /// rfc9266 `tls-exporter`.
    pub exporter: Option<Vec<u8>>,
    /// rfc5929 `tls-server-end-point`.
    pub end_point: Option<Vec<u8>>,
}

impl ChannelBindings {
    /// Whether a -PLUS mechanism can be offered at all.
    pub fn any(&self) -> bool {
        self.exporter.is_some() || self.end_point.is_some()
    }

    fn data(&self, name: &str) -> Option<&[u8]> {
        match name {
            "tls-exporter" => self.exporter.as_deref(),
            "tls-server-end-point" => self.end_point.as_deref(),
            _ => None,
        }
    }
}

/// Why an exchange failed. Each ends it; the client learns only "NO".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScramError {
    /// A message that does not parse (or comes out of order).
    Malformed(&'static str),
    /// Channel binding refused: wrong type, wrong data, or a client that
    /// could have bound but was told the server could not (downgrade).
    ChannelBinding(&'static str),
    /// rfc4422 authzid other than the user: no proxy authorisation here.
    Authzid,
    /// The client's nonce part differs from the exchange's.
    Nonce,
    /// Wrong proof: wrong password, or no credentials for the user.
    Proof,
}

impl std::fmt::Display for ScramError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScramError::Malformed(w) => write!(f, "malformed message: {w}"),
            ScramError::ChannelBinding(w) => write!(f, "channel binding: {w}"),
            ScramError::Authzid => write!(f, "authorization identity differs from the user"),
            ScramError::Nonce => write!(f, "nonce mismatch"),
            ScramError::Proof => write!(f, "wrong proof"),
        }
    }
}

/// rfc5802 5.1 saslname: `=2C` is ',' and `=3D` is '='; no other '='.
fn decode_saslname(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find(['=', ',']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if tail.starts_with("=2C") {
            out.push(',');
        } else if tail.starts_with("=3D") {
            out.push('=');
        } else {
            return None;
        }
        rest = &tail[3..];
    }
    out.push_str(rest);
    (!out.is_empty()).then_some(out)
}

/// The client-first-message (rfc5802 7), parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFirst {
    /// The user (authcid).
    pub user: String,
    /// The authzid, if any.
    pub authzid: Option<String>,
    gs2_header: String,
    cb_name: Option<String>,
    bare: String,
    client_nonce: String,
}

/// The server side of one exchange, between the client's first message
/// and its final one.
#[derive(Debug)]
pub struct ScramServer {
    first: ClientFirst,
    keys: StoredKeys,
    nonce: String,
    server_first: String,
    cb_data: Vec<u8>,
}

/// Parse the client-first-message for mechanism `hash` (`plus`: a -PLUS
/// one). `bindings`: what this connection can bind to; `plus_offered`:
/// whether a -PLUS mechanism was advertised (a client that could bind
/// but believes the server cannot, flag `y`, must then be refused,
/// rfc5802 6).
pub fn client_first(
    msg: &[u8],
    plus: bool,
    bindings: &ChannelBindings,
    plus_offered: bool,
) -> Result<ClientFirst, ScramError> {
    let msg = std::str::from_utf8(msg).map_err(|_| ScramError::Malformed("not UTF-8"))?;
    // gs2-header = gs2-cbind-flag "," [ authzid ] ","
    let (flag, rest) = msg
        .split_once(',')
        .ok_or(ScramError::Malformed("no GS2 header"))?;
    let (authzid, bare) = rest
        .split_once(',')
        .ok_or(ScramError::Malformed("no GS2 header"))?;
    let gs2_header = &msg[..flag.len() + authzid.len() + 2];
    let cb_name = match flag {
        "n" | "y" if plus => return Err(ScramError::ChannelBinding("-PLUS without binding")),
        "n" => None,
        "y" if plus_offered => {
            return Err(ScramError::ChannelBinding(
                "client supports binding but believes the server does not",
            ));
        }
        "y" => None,
        f => match f.strip_prefix("p=") {
            Some(_) if !plus => {
                return Err(ScramError::ChannelBinding(
                    "binding requested without -PLUS",
                ));
            }
            Some(name) if bindings.data(name).is_some() => Some(name.to_string()),
            Some(_) => return Err(ScramError::ChannelBinding("unsupported binding type")),
            None => return Err(ScramError::Malformed("bad channel binding flag")),
        },
    };
    let authzid = match authzid {
        "" => None,
        a => Some(
            a.strip_prefix("a=")
                .and_then(decode_saslname)
                .ok_or(ScramError::Malformed("bad authzid"))?,
        ),
    };
    // client-first-message-bare = [reserved-mext ","] username "," nonce ["," extensions]
    let mut attrs = bare.split(',');
    let user = attrs.next().unwrap_or_default();
    if user.starts_with("m=") {
        return Err(ScramError::Malformed("mandatory extension"));
    }
    let user = user
        .strip_prefix("n=")
        .and_then(decode_saslname)
        .ok_or(ScramError::Malformed("bad username"))?;
    let client_nonce = attrs
        .next()
        .and_then(|n| n.strip_prefix("r="))
        .filter(|n| !n.is_empty() && n.bytes().all(|b| (0x21..=0x7e).contains(&b)))
        .ok_or(ScramError::Malformed("bad nonce"))?;
    Ok(ClientFirst {
        user,
        authzid,
        gs2_header: gs2_header.to_string(),
        cb_name,
        bare: bare.to_string(),
        client_nonce: client_nonce.to_string(),
    })
}

impl ScramServer {
    /// The server-first-message for `first` with `keys` (the user's, or
    /// [`StoredKeys::unusable`]), with a fresh random nonce.
    pub fn new(first: ClientFirst, keys: StoredKeys, bindings: &ChannelBindings) -> ScramServer {
        let random: [u8; SERVER_NONCE_BYTES] = rand::random();
        Self::with_nonce(first, keys, bindings, &B64.encode(random))
    }

    /// As [`ScramServer::new`] with a given server nonce part (tests).
    pub fn with_nonce(
        first: ClientFirst,
        keys: StoredKeys,
        bindings: &ChannelBindings,
        server_nonce: &str,
    ) -> ScramServer {
        let nonce = format!("{}{server_nonce}", first.client_nonce);
        let server_first = format!(
            "r={nonce},s={},i={}",
            B64.encode(&keys.salt),
            keys.iterations
        );
        let cb_data = first
            .cb_name
            .as_deref()
            .and_then(|n| bindings.data(n))
            .unwrap_or_default()
            .to_vec();
        ScramServer {
            first,
            keys,
            nonce,
            server_first,
            cb_data,
        }
    }

    pub fn server_first(&self) -> &[u8] {
        self.server_first.as_bytes()
    }

    pub fn user(&self) -> &str {
        &self.first.user
    }

    /// Check the client-final-message; on success the server-final one
    /// (`v=ServerSignature`).
    pub fn client_final(&self, msg: &[u8]) -> Result<Vec<u8>, ScramError> {
        let msg = std::str::from_utf8(msg).map_err(|_| ScramError::Malformed("not UTF-8"))?;
        // client-final-message = client-final-message-without-proof "," proof
        let (without_proof, proof) = msg
            .rsplit_once(",p=")
            .ok_or(ScramError::Malformed("no proof"))?;
        let mut attrs = without_proof.split(',');
        let cbind = attrs
            .next()
            .and_then(|c| c.strip_prefix("c="))
            .ok_or(ScramError::Malformed("no channel binding"))?;
        let nonce = attrs
            .next()
            .and_then(|r| r.strip_prefix("r="))
            .ok_or(ScramError::Malformed("no nonce"))?;
        let cbind = B64
            .decode(cbind)
            .map_err(|_| ScramError::Malformed("channel binding is not base64"))?;
        let mut expected = self.first.gs2_header.as_bytes().to_vec();
        expected.extend_from_slice(&self.cb_data);
        if !ct_eq(&cbind, &expected) {
            return Err(ScramError::ChannelBinding("data differs"));
        }
        if !ct_eq(nonce.as_bytes(), self.nonce.as_bytes()) {
            return Err(ScramError::Nonce);
        }
        let proof = B64
            .decode(proof)
            .map_err(|_| ScramError::Malformed("proof is not base64"))?;
        let hash = self.keys.hash;
        if proof.len() != hash.len() {
            return Err(ScramError::Malformed("proof has the wrong length"));
        }
        // rfc5802 3: AuthMessage := client-first-message-bare + "," +
        // server-first-message + "," + client-final-message-without-proof
        let auth_message = format!("{},{},{without_proof}", self.first.bare, self.server_first);
        let client_signature = hash.hmac(&self.keys.stored_key, auth_message.as_bytes());
        let client_key: Vec<u8> = proof
            .iter()
            .zip(&client_signature)
            .map(|(p, s)| p ^ s)
            .collect();
        if !ct_eq(&hash.h(&client_key), &self.keys.stored_key) {
            return Err(ScramError::Proof);
        }
        if self
            .first
            .authzid
            .as_deref()
            .is_some_and(|a| a != self.first.user)
        {
            return Err(ScramError::Authzid);
        }
        let server_signature = hash.hmac(&self.keys.server_key, auth_message.as_bytes());
        Ok(format!("v={}", B64.encode(server_signature)).into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONE: ChannelBindings = ChannelBindings {
        exporter: None,
        end_point: None,
    };

    /// rfc5802 5: the SCRAM-SHA-1 example, every message as the RFC shows it.
    #[test]
    fn rfc5802_sha1_vector() {
        let salt = B64.decode("QSXCR+Q6sek8bf92").unwrap();
        let keys = StoredKeys::derive(ScramHash::Sha1, b"pencil", &salt, 4096);
        let first =
            client_first(b"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL", false, &NONE, false).unwrap();
        assert_eq!(first.user, "user");
        let s = ScramServer::with_nonce(first, keys.clone(), &NONE, "3rfcNHYJY1ZVvWVs7j");
        assert_eq!(
            s.server_first(),
            b"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096"
        );
        let fin = s
            .client_final(
                b"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
            )
            .unwrap();
        assert_eq!(fin, b"v=rmF9pqV8S7suAoZWja4dJRkFsKQ=");
        // The stored form goes through the password file unchanged.
        let field = keys.to_field();
        let text = field.strip_prefix("{SCRAM-SHA-1}").unwrap();
        assert_eq!(StoredKeys::parse(ScramHash::Sha1, text).unwrap(), keys);
        assert!(keys.verify_password(b"pencil"));
        assert!(!keys.verify_password(b"pencil2"));
    }

    /// rfc7677 3: the SCRAM-SHA-256 example.
    #[test]
    fn rfc7677_sha256_vector() {
        let salt = B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let keys = StoredKeys::derive(ScramHash::Sha256, b"pencil", &salt, 4096);
        let first = client_first(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO", false, &NONE, false).unwrap();
        let s = ScramServer::with_nonce(first, keys, &NONE, "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0");
        assert_eq!(
            s.server_first(),
            b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
        );
        let fin = s
            .client_final(
                b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                  p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
            )
            .unwrap();
        assert_eq!(fin, b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
    }

    /// Dovecot's stored form of the rfc7677 credentials (what
    /// `doveadm pw -s SCRAM-SHA-256` prints for this salt and count).
    #[test]
    fn dovecot_form_parses_and_checks_limits() {
        let salt = B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let keys = StoredKeys::derive(ScramHash::Sha256, b"pencil", &salt, 4096);
        let field = keys.to_field();
        assert!(field.starts_with("{SCRAM-SHA-256}4096,W22ZaJ0SNY7soEsUEjb6gQ==,"));
        let t = |s: &str| StoredKeys::parse(ScramHash::Sha256, s);
        assert!(t("4096,W22ZaJ0SNY7soEsUEjb6gQ==,x").is_err());
        assert!(t("100,W22ZaJ0SNY7soEsUEjb6gQ==,AAAA,AAAA").is_err());
        assert!(t("4096,!!,AAAA,AAAA").is_err());
        assert!(t("4096,W22ZaJ0SNY7soEsUEjb6gQ==,AAAA,AAAA").is_err());
    }

    fn exchange(
        mech_plus: bool,
        bindings: &ChannelBindings,
        client_cb: (&str, &[u8]),
        password: &[u8],
    ) -> Result<Vec<u8>, ScramError> {
        let keys = StoredKeys::derive(ScramHash::Sha256, b"pencil", b"saltsaltsalt", 4096);
        let gs2 = format!("{},,", client_cb.0);
        let cf = format!("{gs2}n=user,r=abcdef");
        let first = client_first(cf.as_bytes(), mech_plus, bindings, true)?;
        let s = ScramServer::with_nonce(first, keys.clone(), bindings, "XYZ");
        let mut cbind = gs2.into_bytes();
        cbind.extend_from_slice(client_cb.1);
        let without = format!("c={},r=abcdefXYZ", B64.encode(&cbind));
        let auth = format!(
            "n=user,r=abcdef,{},{without}",
            std::str::from_utf8(s.server_first()).unwrap()
        );
        let mine = StoredKeys::derive(ScramHash::Sha256, password, b"saltsaltsalt", 4096);
        let salted = ScramHash::Sha256.salted_password(password, b"saltsaltsalt", 4096);
        let client_key = ScramHash::Sha256.hmac(&salted, b"Client Key");
        let sig = ScramHash::Sha256.hmac(&mine.stored_key, auth.as_bytes());
        let proof: Vec<u8> = client_key.iter().zip(&sig).map(|(a, b)| a ^ b).collect();
        s.client_final(format!("{without},p={}", B64.encode(proof)).as_bytes())
    }

    #[test]
    fn channel_binding_rules() {
        let tls = ChannelBindings {
            exporter: Some(vec![7; 32]),
            end_point: Some(vec![9; 32]),
        };
        assert!(exchange(true, &tls, ("p=tls-exporter", &[7; 32]), b"pencil").is_ok());
        assert!(exchange(true, &tls, ("p=tls-server-end-point", &[9; 32]), b"pencil").is_ok());
        assert_eq!(
            exchange(true, &tls, ("p=tls-exporter", &[8; 32]), b"pencil"),
            Err(ScramError::ChannelBinding("data differs"))
        );
        assert_eq!(
            exchange(true, &tls, ("p=tls-unique", &[7; 32]), b"pencil"),
            Err(ScramError::ChannelBinding("unsupported binding type"))
        );
        assert!(matches!(
            exchange(true, &tls, ("n", b""), b"pencil"),
            Err(ScramError::ChannelBinding(_))
        ));
        assert!(matches!(
            exchange(false, &tls, ("p=tls-exporter", &[7; 32]), b"pencil"),
            Err(ScramError::ChannelBinding(_))
        ));
        // Downgrade: PLUS was offered, the client says it could bind.
        assert!(matches!(
            exchange(false, &tls, ("y", b""), b"pencil"),
            Err(ScramError::ChannelBinding(_))
        ));
        assert!(exchange(false, &tls, ("n", b""), b"pencil").is_ok());
        assert_eq!(
            exchange(false, &tls, ("n", b""), b"pencil2"),
            Err(ScramError::Proof)
        );
    }

    #[test]
    fn malformed_and_replayed_messages() {
        for bad in [
            &b""[..],
            b"n",
            b"n,,",
            b"x,,n=user,r=a",
            b"n,,m=ext,n=user,r=a",
            b"n,,n=us=er,r=a",
            b"n,,n=user",
            b"n,,n=user,r=",
            b"n,a=,n=user,r=abc",
            b"\xff,,n=user,r=a",
        ] {
            assert!(client_first(bad, false, &NONE, false).is_err(), "{bad:?}");
        }
        let f = client_first(b"n,a=us=2Cer,n=us=3Der=2C,r=abc", false, &NONE, false).unwrap();
        assert_eq!(
            (f.user.as_str(), f.authzid.as_deref()),
            ("us=er,", Some("us,er"))
        );
        let keys = StoredKeys::derive(ScramHash::Sha1, b"pencil", b"salt", 4096);
        let first = client_first(b"n,,n=user,r=fyko", false, &NONE, false).unwrap();
        let s = ScramServer::new(first, keys, &NONE);
        // The RFC's final message, replayed into an exchange with another nonce.
        assert_eq!(
            s.client_final(b"c=biws,r=fyko3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="),
            Err(ScramError::Nonce)
        );
        assert!(matches!(
            s.client_final(b"c=biws,r=fyko"),
            Err(ScramError::Malformed(_))
        ));
        assert!(matches!(
            s.client_final(b"c=biws"),
            Err(ScramError::Malformed(_))
        ));
    }
}
