//! COMPRESS=DEFLATE (rfc4978): raw DEFLATE (rfc1951, no zlib header) in
//! both directions, between the IMAP bytes and the transport (TCP or TLS;
//! rfc4978 3: compress first, then encrypt).
//!
//! Output is compressed as it is written and pushed to the client with a
//! sync flush (`Z_SYNC_FLUSH`) whenever the connection flushes, which it
//! does after every burst of output: each response reaches the client
//! whole and at once (rfc4978 4; iOS clients break on partial flushes).
//!
//! Hibernation. A deflate stream's history is shared with the peer, so
//! the two directions differ:
//! - Outgoing, nothing has to be kept. After a sync flush the stream sits
//!   on a byte and block boundary; a new compressor with an empty history
//!   starts a new block there, and its output never refers back to bytes
//!   the old one sent (a decoder never needs a reference, it only allows
//!   them). So the compressor (about 260 KiB in zlib's layout) is dropped
//!   while a session sleeps, and made anew for the next output.
//! - Incoming, the client's compressor may refer to anything in the last
//!   32 KiB it sent, so the decompressor's window must survive. We keep
//!   what it holds ourselves, the last (at most) 32 KiB of the client's
//!   uncompressed bytes (a client that only logged in, selected and
//!   idled has sent a few hundred), and drop the decompressor when the
//!   client's input ended on a sync-flush marker (`00 00 FF FF`), i.e. on
//!   a byte and block boundary. A new decompressor is primed with that
//!   history as one stored block (rfc1951 3.2.4), after which it is in
//!   exactly the state the old one was in. A client whose input did not
//!   end on such a marker (one that flushes with `Z_PARTIAL_FLUSH`) keeps
//!   its decompressor while asleep. The four bytes of a marker can also be
//!   a stored block's data, or the end of one block and most of a stored
//!   block's header: so the marker is fed to the decompressor on its own,
//!   asking it to stop at a block boundary (zlib's `Z_BLOCK`), and counts
//!   only when it takes all four bytes and makes nothing of them (stored
//!   data would come out; another block's end would stop it early). One
//!   shape still passes for a marker: a block ending on a byte boundary,
//!   then a stored block's first byte, a length of `FF00` and the first
//!   byte of its complement, with the client stalling right there until
//!   the session hibernates (zlib's client sends a block's header with its
//!   data); telling that apart needs the decompressor's state (zlib's
//!   `data_type`), which zlib-rs's safe interface does not give.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use flate2::{Compress, Compression, FlushCompress};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use zlib_rs::{Inflate, InflateFlush};

use super::Io;

/// rfc1951: a decoder's window, the farthest a reference may reach back.
const WINDOW: usize = 32 * 1024;
/// Compressed input is read from the transport in pieces of this size.
const READ_CHUNK: usize = 16 * 1024;
/// While asleep the client is read a little at a time (its first input
/// wakes the session anyway).
const ASLEEP_READ_CHUNK: usize = 512;
/// Compressed output waiting for the transport is written out before more
/// is accepted once it reaches this size, so a large FETCH is compressed
/// and sent piece by piece rather than held whole.
const OUT_HIGH_WATER: usize = 64 * 1024;
/// zlib's level 6 compresses IMAP text to a quarter to a third; the
/// fastest levels lose a little ratio for a little CPU, the highest gain
/// almost nothing (rfc4978 4).
const LEVEL: u32 = 6;
/// The sync flush marker: an empty stored block (rfc1951 3.2.4).
const SYNC_MARKER: [u8; 4] = [0, 0, 0xff, 0xff];

/// The state of one connection's DEFLATE layer.
#[derive(Default)]
pub struct Deflate {
    /// Made at the first output, dropped while asleep.
    deflater: Option<Compress>,
    /// Compressed output not yet written to the transport.
    out: Vec<u8>,
    out_pos: usize,
    /// Output was accepted since the last sync flush.
    unflushed: bool,
    /// Made at the first input (primed with `history`), dropped while
    /// asleep when the input ended on a block boundary.
    inflater: Option<Inflate>,
    /// Compressed input read but not inflated yet.
    input: Vec<u8>,
    in_pos: usize,
    /// The last up to 32 KiB the client sent, uncompressed: the
    /// decompressor's window, from which a dropped one is rebuilt.
    history: Vec<u8>,
    /// The compressed input inflated so far ended on a sync-flush marker
    /// that ended an empty stored block: the decompressor is on a block
    /// boundary.
    on_boundary: bool,
    /// The marker ending `input` was offered alone, stopping at a block
    /// boundary.
    marker_tried: bool,
    /// Compressed and uncompressed byte counts, both directions.
    pub stats: Stats,
    asleep: bool,
}

/// Bytes through the layer, for logs and measurements.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    pub plain_out: u64,
    pub wire_out: u64,
    pub plain_in: u64,
    pub wire_in: u64,
}

fn invalid(what: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("invalid COMPRESS=DEFLATE data from the client: {what}"),
    )
}

impl Deflate {
    pub fn new() -> Deflate {
        Deflate::default()
    }

    /// The session hibernates: keep only what the stream needs to go on.
    /// Call it with all output flushed (the connection flushes before it
    /// waits for the client).
    pub fn sleep(&mut self) {
        self.asleep = true;
        self.release();
    }

    /// The session is awake again: buffers may grow to their usual sizes.
    pub fn wake(&mut self) {
        self.asleep = false;
    }

    /// Drop whatever can be rebuilt.
    fn release(&mut self) {
        if !self.unflushed && self.out_pos == self.out.len() {
            self.deflater = None;
            self.out = Vec::new();
            self.out_pos = 0;
        }
        if self.in_pos == self.input.len() {
            self.input = Vec::new();
            self.in_pos = 0;
            if self.inflater.is_some() && self.on_boundary {
                self.inflater = None;
            }
        }
        if self.history.len() > WINDOW {
            let cut = self.history.len() - WINDOW;
            self.history.drain(..cut);
        }
        self.history.shrink_to_fit();
    }

    /// Bytes of buffers this layer holds (not counting the compressor and
    /// decompressor, see [`Deflate::holds_codecs`]).
    pub fn retained_bytes(&self) -> usize {
        self.history.capacity() + self.out.capacity() + self.input.capacity()
    }

    /// Whether a compressor and a decompressor are held (zlib's are about
    /// 260 KiB and 40 KiB).
    pub fn holds_codecs(&self) -> (bool, bool) {
        (self.deflater.is_some(), self.inflater.is_some())
    }

    /// A decompressor in the state of the one that was dropped: fed the
    /// history as one stored, non-final block, whose output is discarded.
    fn rebuild_inflater(history: &[u8]) -> io::Result<Inflate> {
        let mut d = Inflate::new(false, 15);
        if history.is_empty() {
            return Ok(d);
        }
        let len = history.len() as u16;
        let mut block = Vec::with_capacity(history.len() + 5);
        block.push(0); // BFINAL 0, BTYPE 00 (stored), padding to the byte
        block.extend_from_slice(&len.to_le_bytes());
        block.extend_from_slice(&(!len).to_le_bytes());
        block.extend_from_slice(history);
        let mut sink = vec![0u8; history.len()];
        d.decompress(&block, &mut sink, InflateFlush::SyncFlush)
            .map_err(|e| io::Error::other(e.as_str()))?;
        if d.total_in() != block.len() as u64 || d.total_out() != history.len() as u64 {
            return Err(io::Error::other("priming the decompressor failed"));
        }
        Ok(d)
    }

    fn remember(&mut self, plain: &[u8]) {
        if plain.len() >= WINDOW {
            self.history.clear();
            self.history
                .extend_from_slice(&plain[plain.len() - WINDOW..]);
            return;
        }
        self.history.extend_from_slice(plain);
        if self.history.len() > 2 * WINDOW {
            let cut = self.history.len() - WINDOW;
            self.history.drain(..cut);
        }
    }

    fn window(&self) -> &[u8] {
        let h = &self.history;
        &h[h.len().saturating_sub(WINDOW)..]
    }

    pub fn poll_read(
        &mut self,
        io: &mut Box<dyn Io>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        let start = buf.filled().len();
        loop {
            if self.in_pos < self.input.len() {
                if self.inflater.is_none() {
                    self.inflater = Some(Self::rebuild_inflater(self.window())?);
                }
                let Some(inflater) = self.inflater.as_mut() else {
                    return Poll::Ready(Err(io::Error::other("no decompressor")));
                };
                let (before_in, before_out) = (inflater.total_in(), inflater.total_out());
                // A sync-flush marker ending the input goes in on its own,
                // stopping at a block boundary (see the module's comment).
                let (end, marker) = (self.input.len(), SYNC_MARKER.len());
                let marker_next = !self.marker_tried && self.input.ends_with(&SYNC_MARKER);
                let trying = marker_next && end - self.in_pos == marker;
                let upto = if marker_next && !trying {
                    end - marker
                } else {
                    end
                };
                self.marker_tried |= trying;
                let flush = if trying {
                    InflateFlush::Block
                } else {
                    InflateFlush::NoFlush
                };
                let dst = buf.initialize_unfilled();
                let status = inflater
                    .decompress(&self.input[self.in_pos..upto], dst, flush)
                    .map_err(|e| invalid(e.as_str()))?;
                let used = (inflater.total_in() - before_in) as usize;
                let made = (inflater.total_out() - before_out) as usize;
                if used > 0 {
                    self.on_boundary = trying && used == marker && made == 0;
                }
                self.in_pos += used;
                self.stats.wire_in += used as u64;
                self.stats.plain_in += made as u64;
                if made > 0 {
                    let plain = dst[..made].to_vec();
                    self.remember(&plain);
                    buf.advance(made);
                    // A marker held back goes in now, so that input ending
                    // on one is all taken (were it a sync flush's, it makes
                    // nothing: it needs no room).
                    if self.in_pos < upto || upto == end {
                        return Poll::Ready(Ok(()));
                    }
                    continue;
                }
                if status == zlib_rs::Status::StreamEnd {
                    return Poll::Ready(Err(invalid("the client ended the stream")));
                }
                if trying && buf.filled().len() > start {
                    return Poll::Ready(Ok(()));
                }
                // After a stop at a block boundary inside the marker, the
                // rest goes in as usual.
                if used > 0 || trying {
                    continue;
                }
                // Nothing consumed, nothing made: the rest is needed first.
                if self.in_pos < self.input.len() {
                    return Poll::Ready(Err(invalid("the decompressor made no progress")));
                }
            }
            let chunk = if self.asleep {
                ASLEEP_READ_CHUNK
            } else {
                READ_CHUNK
            };
            self.input.clear();
            self.input.resize(chunk, 0);
            self.in_pos = 0;
            self.marker_tried = false;
            let mut rb = ReadBuf::new(&mut self.input);
            let r = Pin::new(&mut *io).poll_read(cx, &mut rb);
            let n = rb.filled().len();
            match r {
                Poll::Pending => {
                    self.input.clear();
                    return Poll::Pending;
                }
                Poll::Ready(Err(e)) => {
                    self.input.clear();
                    return Poll::Ready(Err(e));
                }
                Poll::Ready(Ok(())) => {
                    self.input.truncate(n);
                    if n == 0 {
                        return Poll::Ready(Ok(()));
                    }
                }
            }
        }
    }

    /// Write the pending compressed output to the transport.
    fn poll_drain(&mut self, io: &mut Box<dyn Io>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.out_pos < self.out.len() {
            let n = ready!(Pin::new(&mut *io).poll_write(cx, &self.out[self.out_pos..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.out_pos += n;
            self.stats.wire_out += n as u64;
        }
        self.out.clear();
        self.out_pos = 0;
        Poll::Ready(Ok(()))
    }

    /// Run the compressor over `data` (empty with a flush) into `out`.
    fn compress(&mut self, data: &[u8], flush: FlushCompress) -> io::Result<()> {
        let deflater = self
            .deflater
            .get_or_insert_with(|| Compress::new(Compression::new(LEVEL), false));
        let mut done = 0;
        loop {
            self.out.reserve(data.len() - done + 64);
            let before = deflater.total_in();
            deflater
                .compress_vec(&data[done..], &mut self.out, flush)
                .map_err(io::Error::other)?;
            done += (deflater.total_in() - before) as usize;
            // Finished when all input is in and the output had room to
            // spare (a flush is complete only then).
            if done == data.len() && self.out.len() < self.out.capacity() {
                return Ok(());
            }
        }
    }

    pub fn poll_write(
        &mut self,
        io: &mut Box<dyn Io>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.out.len() - self.out_pos >= OUT_HIGH_WATER {
            ready!(self.poll_drain(io, cx))?;
        }
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        self.compress(data, FlushCompress::None)?;
        self.unflushed = true;
        self.stats.plain_out += data.len() as u64;
        Poll::Ready(Ok(data.len()))
    }

    pub fn poll_flush(
        &mut self,
        io: &mut Box<dyn Io>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        if self.unflushed {
            self.compress(&[], FlushCompress::Sync)?;
            self.unflushed = false;
        }
        ready!(self.poll_drain(io, cx))?;
        ready!(Pin::new(&mut *io).poll_flush(cx))?;
        // A large FETCH grew the buffer; an idle connection need not keep it.
        if self.out.capacity() > 2 * OUT_HIGH_WATER {
            self.out = Vec::new();
        }
        if self.asleep {
            self.release();
        }
        Poll::Ready(Ok(()))
    }

    pub fn poll_shutdown(
        &mut self,
        io: &mut Box<dyn Io>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        ready!(self.poll_flush(io, cx))?;
        Pin::new(&mut *io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{Decompress, FlushDecompress};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// The layer over one end of an in-memory pipe, as a stream.
    struct Layered {
        io: Box<dyn Io>,
        d: Deflate,
    }

    impl AsyncRead for Layered {
        fn poll_read(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            let this = self.get_mut();
            this.d.poll_read(&mut this.io, cx, buf)
        }
    }

    impl AsyncWrite for Layered {
        fn poll_write(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            data: &[u8],
        ) -> Poll<io::Result<usize>> {
            let this = self.get_mut();
            this.d.poll_write(&mut this.io, cx, data)
        }
        fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            let this = self.get_mut();
            this.d.poll_flush(&mut this.io, cx)
        }
        fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            let this = self.get_mut();
            this.d.poll_shutdown(&mut this.io, cx)
        }
    }

    /// The server end with the layer, the client end, and the client's
    /// compressor.
    fn pipe(size: usize) -> (Layered, tokio::io::DuplexStream, Compress) {
        let (server, client) = tokio::io::duplex(size);
        let s = Layered {
            io: Box::new(server),
            d: Deflate::new(),
        };
        (s, client, Compress::new(Compression::default(), false))
    }

    fn deflate_sync(c: &mut Compress, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(data.len() + 1024);
        c.compress_vec(data, &mut out, FlushCompress::Sync).unwrap();
        out
    }

    fn inflate_all(d: &mut Decompress, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(data.len() * 20 + 1024);
        d.decompress_vec(data, &mut out, FlushDecompress::Sync)
            .unwrap();
        out
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn both_directions_and_every_flush_delivers_everything() {
        rt().block_on(async {
            let (mut s, mut client, mut cc) = pipe(1 << 20);
            let mut cd = Decompress::new(false);
            for round in 0..3 {
                let line = format!("a{round} NOOP\r\n").repeat(50);
                client
                    .write_all(&deflate_sync(&mut cc, line.as_bytes()))
                    .await
                    .unwrap();
                let mut got = vec![0u8; line.len()];
                s.read_exact(&mut got).await.unwrap();
                assert_eq!(got, line.as_bytes());
                let reply = format!("* {round} EXISTS\r\na{round} OK done\r\n").repeat(40);
                s.write_all(reply.as_bytes()).await.unwrap();
                s.flush().await.unwrap();
                let mut wire = vec![0u8; 64 * 1024];
                let n = client.read(&mut wire).await.unwrap();
                assert!(wire[..n].ends_with(&SYNC_MARKER));
                assert_eq!(inflate_all(&mut cd, &wire[..n]), reply.as_bytes());
            }
            assert!(s.d.stats.wire_out < s.d.stats.plain_out / 4);
        });
    }

    #[test]
    fn sleeping_drops_both_and_the_stream_goes_on() {
        rt().block_on(async {
            let (mut s, mut client, mut cc) = pipe(1 << 20);
            let mut cd = Decompress::new(false);
            let first = b"a1 SELECT \"Some long mailbox name that repeats\"\r\na2 IDLE\r\n";
            client
                .write_all(&deflate_sync(&mut cc, first))
                .await
                .unwrap();
            let mut got = vec![0u8; first.len()];
            s.read_exact(&mut got).await.unwrap();
            s.write_all(b"+ idling\r\n").await.unwrap();
            s.flush().await.unwrap();
            s.d.sleep();
            assert!(s.d.deflater.is_none() && s.d.inflater.is_none());
            assert!(s.d.retained_bytes() <= first.len() + 64);
            // A keepalive while asleep: a compressor for the moment only.
            s.write_all(b"* OK Still here\r\n").await.unwrap();
            s.flush().await.unwrap();
            assert!(s.d.deflater.is_none());
            // The client refers back to what it sent before the sleep.
            let again = b"DONE\r\na3 SELECT \"Some long mailbox name that repeats\"\r\n";
            let wire = deflate_sync(&mut cc, again);
            assert!(wire.len() < again.len(), "back-references expected");
            client.write_all(&wire).await.unwrap();
            s.d.wake();
            let mut got = vec![0u8; again.len()];
            s.read_exact(&mut got).await.unwrap();
            assert_eq!(got, again);
            s.write_all(b"a3 OK done\r\n").await.unwrap();
            s.flush().await.unwrap();
            let mut wire = vec![0u8; 4096];
            let mut all = Vec::new();
            while !all.ends_with(b"a3 OK done\r\n") {
                let n = client.read(&mut wire).await.unwrap();
                all.extend(inflate_all(&mut cd, &wire[..n]));
            }
            assert_eq!(all, b"+ idling\r\n* OK Still here\r\na3 OK done\r\n");
        });
    }

    #[test]
    fn history_longer_than_the_window_and_partial_flush_clients() {
        rt().block_on(async {
            let (mut s, mut client, mut cc) = pipe(1 << 22);
            let big: Vec<u8> = (0..200_000u32)
                .map(|i| (i % 251) as u8 ^ (i / 7) as u8)
                .collect();
            let mut sent = big.clone();
            sent.extend_from_slice(b"\r\n");
            client
                .write_all(&deflate_sync(&mut cc, &sent))
                .await
                .unwrap();
            let mut got = vec![0u8; sent.len()];
            s.read_exact(&mut got).await.unwrap();
            assert_eq!(got, sent);
            s.d.sleep();
            assert!(s.d.inflater.is_none());
            assert!(s.d.history.len() <= WINDOW);
            // The client repeats the tail of what it sent: references reach
            // back the full window.
            let again = big[big.len() - 30_000..].to_vec();
            client
                .write_all(&deflate_sync(&mut cc, &again))
                .await
                .unwrap();
            let mut got = vec![0u8; again.len()];
            s.read_exact(&mut got).await.unwrap();
            assert_eq!(got, again);
            // Input that did not end on a sync marker keeps the decompressor.
            let mut out = Vec::with_capacity(1024);
            cc.compress_vec(b"x1 NOOP\r\n", &mut out, FlushCompress::Partial)
                .unwrap();
            client.write_all(&out).await.unwrap();
            let mut got = vec![0u8; 9];
            s.read_exact(&mut got).await.unwrap();
            if !s.d.on_boundary {
                s.d.sleep();
                assert!(s.d.inflater.is_some());
            }
        });
    }

    #[test]
    fn garbage_is_an_invalid_data_error() {
        rt().block_on(async {
            let (mut s, mut client, _) = pipe(1 << 16);
            client.write_all(&[0xff; 64]).await.unwrap();
            let mut got = vec![0u8; 16];
            let e = s.read(&mut got).await.unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        });
    }
}
