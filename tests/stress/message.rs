//! The messages the stress clients append: each is named by (client,
//! number) and its bytes follow from that name alone, so any client can
//! check any FETCH of it (envelope, size, body parts) against what was
//! appended, without keeping the text.

use rand::{Rng, SeedableRng, rngs::StdRng};

/// Who appended a message, and its number among that client's appends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MsgName {
    pub client: u32,
    pub n: u32,
}

pub struct Message {
    pub bytes: Vec<u8>,
    /// Offset of the body (after the header's blank line).
    pub text_at: usize,
    /// `BODY[1]`: the first part of a multipart, else the whole body.
    pub part1: Vec<u8>,
    pub subject: String,
    pub message_id: String,
}

const WORDS: &[&str] = &[
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet",
    "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango",
];

fn lines(rng: &mut StdRng, count: usize) -> String {
    let mut s = String::new();
    for _ in 0..count {
        let words = rng.gen_range(1..14);
        for w in 0..words {
            if w > 0 {
                s.push(' ');
            }
            s.push_str(WORDS[rng.gen_range(0..WORDS.len())]);
        }
        s.push_str("\r\n");
    }
    s
}

impl MsgName {
    pub fn message_id(&self, run: u64) -> String {
        format!("<c{}.n{}.r{run}@stress.test>", self.client, self.n)
    }

    /// Parse our own Message-ID back into a name.
    pub fn from_message_id(id: &str) -> Option<(MsgName, u64)> {
        let id = id.strip_prefix("<c")?.strip_suffix("@stress.test>")?;
        let mut it = id.split('.');
        let client = it.next()?.parse().ok()?;
        let n = it.next()?.strip_prefix('n')?.parse().ok()?;
        let run = it.next()?.strip_prefix('r')?.parse().ok()?;
        Some((MsgName { client, n }, run))
    }

    pub fn build(&self, run: u64) -> Message {
        let seed = run ^ ((self.client as u64) << 32 | self.n as u64).wrapping_mul(0x9E37_79B9);
        let mut rng = StdRng::seed_from_u64(seed);
        let subject = format!("stress c{} n{}", self.client, self.n);
        let message_id = self.message_id(run);
        let mut head = format!(
            "Date: Mon, 7 Dec 2026 10:{:02}:{:02} +0000\r\nFrom: Client {} <c{}@stress.test>\r\nTo: box <box@stress.test>\r\nSubject: {subject}\r\nMessage-ID: {message_id}\r\nMIME-Version: 1.0\r\n",
            self.n % 60,
            self.client % 60,
            self.client,
            self.client
        );
        // Mostly small messages, sometimes one of tens of kilobytes.
        let count = if rng.gen_ratio(1, 20) {
            rng.gen_range(200..800)
        } else {
            rng.gen_range(1..30)
        };
        let (text, part1) = if self.n.is_multiple_of(3) {
            let b = format!("b{}x{}", self.client, self.n);
            head += &format!("Content-Type: multipart/mixed; boundary=\"{b}\"\r\n");
            let p1 = lines(&mut rng, count);
            let p2 = lines(&mut rng, 3);
            let text = format!(
                "--{b}\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n{p1}\r\n--{b}\r\nContent-Type: text/plain\r\n\r\n{p2}\r\n--{b}--\r\n"
            );
            // rfc3501 6.4.5: BODY[1] of a multipart is the part's content,
            // without the CRLF that belongs to the boundary after it.
            (text, p1)
        } else {
            head += "Content-Type: text/plain; charset=us-ascii\r\n";
            let t = lines(&mut rng, count);
            (t.clone(), t)
        };
        head += "\r\n";
        let text_at = head.len();
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(text.as_bytes());
        Message {
            bytes,
            text_at,
            part1: part1.into_bytes(),
            subject,
            message_id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_content_is_deterministic() {
        let m = MsgName { client: 3, n: 9 };
        let a = m.build(42);
        assert_eq!(a.bytes, m.build(42).bytes);
        assert_ne!(a.bytes, m.build(43).bytes);
        assert_eq!(MsgName::from_message_id(&a.message_id), Some((m, 42)));
        assert!(a.bytes[..a.text_at].ends_with(b"\r\n\r\n"));
    }
}
