//! BODY and BODYSTRUCTURE (rfc3501 7.4.2, formal syntax in rfc3501 9:
//! `body`, `body-type-1part`, `body-type-mpart`, `body-ext-*`).
//!
//! Presentation choices (Cyrus style): media type, subtype, parameter names,
//! transfer encoding and disposition type are upper-cased; values are sent
//! as found. A text part without a charset gets `("CHARSET" "us-ascii")`.
//! rfc2231 parameters: see `header::parse_param_header`.

use super::envelope::write_envelope;
use super::header::{self, HeaderField};
use super::imap_string::{write_nstring, write_string};
use super::part::{MediaType, MimePart, PartKind, parse_tree};

/// Writes BODYSTRUCTURE (`extensible = true`) or BODY (`false`) of the
/// message `raw` whose tree is `root`.
pub fn write_body(out: &mut Vec<u8>, raw: &[u8], root: &MimePart, extensible: bool) {
    write_part(out, raw, root, extensible, false, 0);
}

/// Convenience: the structure as bytes.
pub fn body_structure(raw: &[u8], root: &MimePart, extensible: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    write_body(&mut out, raw, root, extensible);
    out
}

/// rfc3501 9 `body-fld-lines`: the number of lines, counting a final
/// unterminated line.
pub fn count_lines(body: &[u8]) -> usize {
    let n = body.iter().filter(|&&b| b == b'\n').count();
    if body.last().is_some_and(|&b| b != b'\n') {
        n + 1
    } else {
        n
    }
}

fn upper(v: &[u8]) -> Vec<u8> {
    v.to_ascii_uppercase()
}

fn write_params(out: &mut Vec<u8>, params: &[(Vec<u8>, Vec<u8>)]) {
    // rfc3501 9 body-fld-param = "(" string SP string *(SP string SP string) ")" / nil
    if params.is_empty() {
        out.extend_from_slice(b"NIL");
        return;
    }
    out.push(b'(');
    for (i, (name, value)) in params.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        write_string(out, &upper(name));
        out.push(b' ');
        write_string(out, value);
    }
    out.push(b')');
}

fn field_value(fields: &[HeaderField<'_>], name: &str) -> Option<Vec<u8>> {
    header::first(fields, name).map(header::unfold)
}

/// body-fld-dsp SP body-fld-lang SP body-fld-loc
fn write_dsp_lang_loc(out: &mut Vec<u8>, fields: &[HeaderField<'_>]) {
    match header::first(fields, "Content-Disposition").map(header::parse_param_header) {
        Some(d) if !d.value.is_empty() => {
            out.push(b'(');
            write_string(out, &upper(&d.value));
            out.push(b' ');
            write_params(out, &d.params);
            out.push(b')');
        }
        _ => out.extend_from_slice(b"NIL"),
    }
    out.push(b' ');
    // body-fld-lang = nstring / "(" string *(SP string) ")"
    let langs: Vec<Vec<u8>> = field_value(fields, "Content-Language")
        .map(|v| {
            v.split(|&b| b == b',' || b == b' ' || b == b'\t')
                .map(header::trim)
                .filter(|s| !s.is_empty())
                .map(<[u8]>::to_vec)
                .collect()
        })
        .unwrap_or_default();
    match langs.len() {
        0 => out.extend_from_slice(b"NIL"),
        1 => write_string(out, &langs[0]),
        _ => {
            out.push(b'(');
            for (i, l) in langs.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                write_string(out, l);
            }
            out.push(b')');
        }
    }
    out.push(b' ');
    write_nstring(out, field_value(fields, "Content-Location").as_deref());
}

fn write_part(
    out: &mut Vec<u8>,
    raw: &[u8],
    part: &MimePart,
    ext: bool,
    in_digest: bool,
    depth: usize,
) {
    let header_block = &raw[part.header.clone()];
    let fields = header::fields(header_block);
    let media = super::part::media_type(header_block, in_digest);
    out.push(b'(');
    match &part.kind {
        PartKind::Multipart(children) => {
            let digest = media.is("multipart", "digest");
            if children.is_empty() {
                // rfc3501 9 requires 1*body: an empty multipart gets one empty
                // text/plain part, as Dovecot does.
                out.extend_from_slice(
                    b"(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 0 0)",
                );
            }
            for child in children {
                write_part(out, raw, child, ext, digest, depth + 1);
            }
            out.push(b' ');
            write_string(out, &upper(&media.sub));
            if ext {
                out.push(b' ');
                let params: Vec<_> = media.params.clone();
                write_params(out, &params);
                out.push(b' ');
                write_dsp_lang_loc(out, &fields);
            }
        }
        _ => write_single(out, raw, part, &fields, media, ext, depth),
    }
    out.push(b')');
}

fn write_single(
    out: &mut Vec<u8>,
    raw: &[u8],
    part: &MimePart,
    fields: &[HeaderField<'_>],
    mut media: MediaType,
    ext: bool,
    depth: usize,
) {
    let body = &raw[part.body.clone()];
    if media.is_main("multipart") {
        // A multipart that could not be split (no boundary): present it as
        // the text it is, keeping its parameters.
        media.main = b"text".to_vec();
        media.sub = b"plain".to_vec();
    }
    if media.is_main("text")
        && !media
            .params
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(b"charset"))
    {
        media
            .params
            .push((b"charset".to_vec(), b"us-ascii".to_vec()));
    }
    let encoding = field_value(fields, "Content-Transfer-Encoding")
        .map(|v| {
            // drop comments: "base64 (comment)"
            let p = header::parse_param_header(&v);
            p.value
        })
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| b"7BIT".to_vec());
    write_string(out, &upper(&media.main));
    out.push(b' ');
    write_string(out, &upper(&media.sub));
    out.push(b' ');
    write_params(out, &media.params);
    out.push(b' ');
    write_nstring(out, field_value(fields, "Content-ID").as_deref());
    out.push(b' ');
    write_nstring(out, field_value(fields, "Content-Description").as_deref());
    out.push(b' ');
    write_string(out, &upper(&encoding));
    out.push(b' ');
    out.extend_from_slice(body.len().to_string().as_bytes());
    if media.is_message() {
        // body-type-msg: envelope SP body SP body-fld-lines
        out.push(b' ');
        match &part.kind {
            PartKind::Message(inner) => {
                write_envelope(out, &raw[inner.header.clone()]);
                out.push(b' ');
                if depth + 1 >= super::part::MAX_DEPTH {
                    write_opaque(out);
                } else {
                    write_part(out, raw, inner, ext, false, depth + 1);
                }
            }
            _ => {
                // Encoded (base64/qp) or unparsed embedded message: parse the
                // decoded bytes on their own.
                let decoded = super::binary::decode_body(body, &encoding).unwrap_or_default();
                let tree = parse_tree(&decoded);
                write_envelope(out, &decoded[tree.header.clone()]);
                out.push(b' ');
                if depth + 1 >= super::part::MAX_DEPTH {
                    write_opaque(out);
                } else {
                    write_part(out, &decoded, &tree, ext, false, depth + 1);
                }
            }
        }
        out.push(b' ');
        out.extend_from_slice(count_lines(body).to_string().as_bytes());
    } else if media.is_main("text") {
        out.push(b' ');
        out.extend_from_slice(count_lines(body).to_string().as_bytes());
    }
    if ext {
        // body-ext-1part = body-fld-md5 SP body-fld-dsp SP body-fld-lang SP body-fld-loc
        out.push(b' ');
        write_nstring(out, field_value(fields, "Content-MD5").as_deref());
        out.push(b' ');
        write_dsp_lang_loc(out, fields);
    }
}

fn write_opaque(out: &mut Vec<u8>) {
    out.extend_from_slice(b"(\"APPLICATION\" \"OCTET-STREAM\" NIL NIL NIL \"7BIT\" 0)");
}
