//! Incremental server-sent-events decoder (WHATWG EventSource parsing rules, plus a lenient
//! flush at end of stream so a missing final blank line loses nothing).
//!
//! Linear time: every input byte is looked at a bounded number of times, and a line that arrives
//! whole inside one read is parsed in place without copying.

use memchr::memchr2;

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, or "message".
    pub event: String,
    pub data: String,
    /// The last `id:` seen on the stream so far.
    pub id: Option<String>,
}

/// Where decoded events go. Events are lent, not moved: a receiver that only looks at them (the
/// stream reader parses each one in place) costs no allocation per event.
pub trait SseSink {
    fn event(&mut self, event_type: &str, data: &str, id: Option<&str>);
}

impl SseSink for Vec<SseEvent> {
    fn event(&mut self, event_type: &str, data: &str, id: Option<&str>) {
        self.push(SseEvent { event: event_type.to_owned(), data: data.to_owned(), id: id.map(str::to_owned) });
    }
}

/// An event or a line grew past the configured limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseLimitExceeded {
    pub limit: usize,
}

#[derive(Debug)]
pub struct SseDecoder {
    /// Bytes of a line that started in an earlier read.
    partial: Vec<u8>,
    data: String,
    has_data: bool,
    event_type: String,
    last_id: Option<String>,
    /// The previous read ended in CR: an LF starting the next read belongs to it.
    pending_cr: bool,
    at_stream_start: bool,
    max_event_bytes: usize,
    /// Comment lines seen (keep-alives); lets callers see that the peer is alive.
    pub comments: u64,
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

impl SseDecoder {
    pub fn new(max_event_bytes: usize) -> SseDecoder {
        SseDecoder {
            partial: Vec::new(),
            data: String::new(),
            has_data: false,
            event_type: String::new(),
            last_id: None,
            pending_cr: false,
            at_stream_start: true,
            max_event_bytes,
            comments: 0,
        }
    }

    /// Feed one network read; complete events are appended to `out`.
    pub fn feed<S: SseSink>(&mut self, mut input: &[u8], out: &mut S) -> Result<(), SseLimitExceeded> {
        if input.is_empty() {
            return Ok(()); // an empty read must not forget a CR that ended the previous one
        }
        if self.pending_cr {
            self.pending_cr = false;
            if let Some(rest) = input.strip_prefix(b"\n") {
                input = rest;
            }
        }
        while !input.is_empty() {
            match memchr2(b'\n', b'\r', input) {
                None => {
                    self.partial.extend_from_slice(input);
                    self.check_limit()?;
                    return Ok(());
                }
                Some(pos) => {
                    let terminator = input[pos];
                    if self.partial.is_empty() {
                        self.line(&input[..pos], out)?;
                    } else {
                        self.partial.extend_from_slice(&input[..pos]);
                        let line = std::mem::take(&mut self.partial);
                        self.line(&line, out)?;
                        self.partial = line;
                        self.partial.clear();
                    }
                    input = &input[pos + 1..];
                    if terminator == b'\r' {
                        if input.is_empty() {
                            self.pending_cr = true;
                        } else if input[0] == b'\n' {
                            input = &input[1..];
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// End of stream: an unterminated last line is processed, and a pending event is dispatched.
    pub fn finish<S: SseSink>(&mut self, out: &mut S) -> Result<(), SseLimitExceeded> {
        if !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            self.line(&line, out)?;
        }
        self.dispatch(out);
        Ok(())
    }

    fn check_limit(&self) -> Result<(), SseLimitExceeded> {
        if self.partial.len() + self.data.len() > self.max_event_bytes {
            return Err(SseLimitExceeded { limit: self.max_event_bytes });
        }
        Ok(())
    }

    fn line<S: SseSink>(&mut self, mut line: &[u8], out: &mut S) -> Result<(), SseLimitExceeded> {
        if self.at_stream_start {
            self.at_stream_start = false;
            if let Some(rest) = line.strip_prefix(BOM) {
                line = rest;
            }
        }
        if line.is_empty() {
            self.dispatch(out);
            return Ok(());
        }
        if line[0] == b':' {
            self.comments += 1;
            return Ok(());
        }
        let (field, value) = match memchr::memchr(b':', line) {
            Some(colon) => {
                let v = &line[colon + 1..];
                (&line[..colon], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &line[..0]),
        };
        match field {
            b"data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.has_data = true;
                // Valid UTF-8 (the normal case) is copied as is; the lossy path allocates.
                match std::str::from_utf8(value) {
                    Ok(v) => self.data.push_str(v),
                    Err(_) => self.data.push_str(&String::from_utf8_lossy(value)),
                }
                self.check_limit()?;
            }
            b"event" => {
                self.event_type.clear();
                self.event_type.push_str(&String::from_utf8_lossy(value));
            }
            // An id with NUL is ignored (WHATWG).
            b"id" if !value.contains(&0) => {
                self.last_id = Some(String::from_utf8_lossy(value).into_owned());
            }
            // `retry:` only matters to auto-reconnecting EventSource objects; parsed and ignored.
            _ => {}
        }
        Ok(())
    }

    fn dispatch<S: SseSink>(&mut self, out: &mut S) {
        if self.has_data {
            let event_type = if self.event_type.is_empty() { "message" } else { &self.event_type };
            out.event(event_type, &self.data, self.last_id.as_deref());
        }
        self.has_data = false;
        self.data.clear();
        self.event_type.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut d = SseDecoder::new(1 << 20);
        let mut out = Vec::new();
        for c in chunks {
            d.feed(c, &mut out).unwrap();
        }
        d.finish(&mut out).unwrap();
        out
    }

    #[test]
    fn basic_and_split_crlf() {
        let e = decode(&[b"data: a\r", b"\n\r\ndata: b\n\n"]);
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].data, "a");
        assert_eq!(e[1].data, "b");
    }

    #[test]
    fn split_utf8_and_flush() {
        let e = decode(&[b"data: \xE2\x82", b"\xAC"]);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].data, "\u{20AC}");
    }

    #[test]
    fn limit() {
        let mut d = SseDecoder::new(8);
        let mut out = Vec::new();
        assert!(d.feed(b"data: 0123456789", &mut out).is_err());
    }
}
