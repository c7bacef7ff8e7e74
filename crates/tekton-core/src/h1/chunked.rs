//! `Transfer-Encoding: chunked`, decoded in place: the payload of what one read brought is moved
//! to the front of the read's own buffer, so a streamed answer is never copied on its way to the
//! SSE decoder. The state survives between reads (a size line or a CRLF may be split anywhere).

/// Why a chunked body cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChunkedError(pub &'static str);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading a size line: the value so far and how many hex digits it had.
    Size {
        value: u64,
        digits: u8,
    },
    /// After the size, in a chunk extension (`;name=value`) or whitespace, up to CR.
    SizeExtension {
        value: u64,
    },
    SizeLf {
        value: u64,
    },
    Data {
        left: u64,
    },
    DataCr,
    DataLf,
    /// After the last chunk: trailer lines, up to an empty one. `line_start`: no byte of the
    /// current line read yet.
    Trailer {
        line_start: bool,
    },
    TrailerLf {
        empty_line: bool,
    },
    Done,
}

#[derive(Debug, Clone)]
pub(crate) struct ChunkedDecoder {
    state: State,
}

impl Default for ChunkedDecoder {
    fn default() -> ChunkedDecoder {
        ChunkedDecoder { state: State::Size { value: 0, digits: 0 } }
    }
}

impl ChunkedDecoder {
    /// Whether the last chunk and its trailers were read: the body is complete.
    pub(crate) fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes `buf` (everything a read brought) in place: returns how many payload bytes now
    /// start `buf` and how many input bytes were taken (fewer than `buf.len()` only once done:
    /// the rest is not part of this body).
    pub(crate) fn decode(&mut self, buf: &mut [u8]) -> Result<(usize, usize), ChunkedError> {
        let mut read = 0;
        let mut written = 0;
        while read < buf.len() {
            let byte = buf[read];
            self.state = match self.state {
                State::Done => break,
                State::Size { value, digits } => match hex_value(byte) {
                    Some(v) if digits < 15 => State::Size { value: value << 4 | u64::from(v), digits: digits + 1 },
                    Some(_) => return Err(ChunkedError("a chunk size is too large")),
                    None if digits == 0 => return Err(ChunkedError("a chunk size line has no size")),
                    None if byte == b'\r' => State::SizeLf { value },
                    None if byte == b';' || byte == b' ' || byte == b'\t' => State::SizeExtension { value },
                    None => return Err(ChunkedError("a chunk size line is malformed")),
                },
                State::SizeExtension { value } => match byte {
                    b'\r' => State::SizeLf { value },
                    b'\n' => return Err(ChunkedError("a chunk size line ends without CR")),
                    _ => State::SizeExtension { value },
                },
                State::SizeLf { value } => match (byte, value) {
                    (b'\n', 0) => State::Trailer { line_start: true },
                    (b'\n', left) => State::Data { left },
                    _ => return Err(ChunkedError("a chunk size line ends without LF")),
                },
                State::Data { left } => {
                    let take = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len() - read);
                    buf.copy_within(read..read + take, written);
                    written += take;
                    read += take;
                    let left = left - take as u64;
                    self.state = if left == 0 { State::DataCr } else { State::Data { left } };
                    continue;
                }
                State::DataCr if byte == b'\r' => State::DataLf,
                State::DataLf if byte == b'\n' => State::Size { value: 0, digits: 0 },
                State::DataCr | State::DataLf => return Err(ChunkedError("a chunk does not end with CRLF")),
                State::Trailer { line_start } => match byte {
                    b'\r' => State::TrailerLf { empty_line: line_start },
                    _ => State::Trailer { line_start: false },
                },
                State::TrailerLf { empty_line } => match byte {
                    b'\n' if empty_line => State::Done,
                    b'\n' => State::Trailer { line_start: true },
                    _ => return Err(ChunkedError("a trailer line ends without LF")),
                },
            };
            read += 1;
        }
        Ok((written, read))
    }
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `wire` split at every `cut`, as reads would bring it.
    fn decode_in_reads(wire: &[u8], cuts: &[usize]) -> Result<(Vec<u8>, bool), ChunkedError> {
        let mut decoder = ChunkedDecoder::default();
        let mut out = Vec::new();
        let mut from = 0;
        for &to in cuts.iter().chain(std::iter::once(&wire.len())) {
            let mut piece = wire[from..to].to_vec();
            let (n, _) = decoder.decode(&mut piece)?;
            out.extend_from_slice(&piece[..n]);
            from = to;
        }
        Ok((out, decoder.is_done()))
    }

    #[test]
    fn payload_comes_out_whole_however_the_reads_split_it() {
        let wire = b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nx-trailer: 1\r\n\r\n";
        for cut in 0..=wire.len() {
            assert_eq!(decode_in_reads(wire, &[cut]).unwrap(), (b"hello, world".to_vec(), true), "cut at {cut}");
        }
        let every_byte: Vec<usize> = (1..wire.len()).collect();
        assert_eq!(decode_in_reads(wire, &every_byte).unwrap(), (b"hello, world".to_vec(), true));
        assert_eq!(decode_in_reads(b"A\r\n0123456789\r\n", &[]).unwrap(), (b"0123456789".to_vec(), false));
    }

    #[test]
    fn bytes_after_the_last_chunk_are_not_taken() {
        let mut wire = b"1\r\nx\r\n0\r\n\r\nHTTP/1.1".to_vec();
        let mut decoder = ChunkedDecoder::default();
        let (n, taken) = decoder.decode(&mut wire).unwrap();
        assert_eq!((n, taken, decoder.is_done()), (1, 11, true));
    }

    #[test]
    fn malformed_framing_is_an_error_not_a_guess() {
        for bad in [&b"zz\r\n"[..], b"\r\n", b"5\nhello", b"1\r\nxy", b"ffffffffffffffff1\r\n", b"0\r\n\r\r"] {
            assert!(decode_in_reads(bad, &[]).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
