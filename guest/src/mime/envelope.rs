//! ENVELOPE (rfc3501 7.4.2) from a raw header block.

use super::address::{parse_address_list, write_address_list};
use super::header::{self, HeaderField};
use super::imap_string::write_nstring;

/// Writes the ENVELOPE structure for the header block `block`.
///
/// Fields are the first occurrence of each header, unfolded and trimmed,
/// encoded words kept raw. rfc3501 7.4.2: absent or empty Sender/Reply-To
/// take the value of From.
pub fn write_envelope(out: &mut Vec<u8>, block: &[u8]) {
    let fields = header::fields(block);
    out.push(b'(');
    text_field(out, &fields, "Date");
    out.push(b' ');
    text_field(out, &fields, "Subject");
    let from = address_field(&fields, "From");
    for name in ["From", "Sender", "Reply-To", "To", "Cc", "Bcc"] {
        out.push(b' ');
        let mut list = if name == "From" {
            from.clone()
        } else {
            address_field(&fields, name)
        };
        if list.is_empty() && (name == "Sender" || name == "Reply-To") {
            list = from.clone();
        }
        write_address_list(out, &list);
    }
    out.push(b' ');
    text_field(out, &fields, "In-Reply-To");
    out.push(b' ');
    text_field(out, &fields, "Message-ID");
    out.push(b')');
}

/// The envelope as a byte string.
pub fn envelope(block: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    write_envelope(&mut out, block);
    out
}

fn text_field(out: &mut Vec<u8>, fields: &[HeaderField<'_>], name: &str) {
    let v = header::first(fields, name).map(header::unfold);
    write_nstring(out, v.as_deref());
}

fn address_field(fields: &[HeaderField<'_>], name: &str) -> Vec<super::address::AddressItem> {
    header::first(fields, name)
        .map(parse_address_list)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3501_example_shape() {
        let block = b"Date: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\r\n\
Subject: IMAP4rev1 WG mtg summary and minutes\r\n\
From: Terry Gray <gray@cac.washington.edu>\r\n\
To: imap@cac.washington.edu\r\n\
cc: minutes@CNRI.Reston.VA.US, John Klensin <KLENSIN@MIT.EDU>\r\n\
Message-Id: <B27397-0100000@cac.washington.edu>\r\n\r\n";
        let e = String::from_utf8(envelope(block)).unwrap();
        // rfc3501 7.4.2 FETCH response example (8.)
        assert_eq!(
            e,
            "(\"Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\" \"IMAP4rev1 WG mtg summary and minutes\" \
((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) \
((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) \
((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) \
((NIL NIL \"imap\" \"cac.washington.edu\")) \
((NIL NIL \"minutes\" \"CNRI.Reston.VA.US\")(\"John Klensin\" NIL \"KLENSIN\" \"MIT.EDU\")) \
NIL NIL \"<B27397-0100000@cac.washington.edu>\")"
        );
    }

    #[test]
    fn missing_headers_are_nil() {
        let e = String::from_utf8(envelope(b"X-Foo: bar\r\n\r\n")).unwrap();
        assert_eq!(e, "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
    }
}
