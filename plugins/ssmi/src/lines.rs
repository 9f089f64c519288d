//! Reading the server's lines: each ends in `\r` (a `\n` right after it, from a server that ends
//! lines in `\r\n`, is dropped; a `\n` anywhere else is part of the text). A line longer than the
//! bound is read to its end without being kept, and reported by its length.

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// What the next read found.
#[derive(Debug, PartialEq, Eq)]
pub enum Read {
    Line(Vec<u8>),
    /// A line of `bytes` bytes, more than the bound; it was skipped.
    TooLong {
        bytes: usize,
    },
    /// The server closed the connection (an unfinished last line is dropped).
    End,
}

pub struct LineReader<R> {
    reader: R,
    max: usize,
    buf: Vec<u8>,
}

impl<R: AsyncBufRead + Unpin> LineReader<R> {
    pub fn new(reader: R, max: usize) -> Self {
        Self {
            reader,
            max: max.max(1),
            buf: Vec::with_capacity(256),
        }
    }

    /// The next line that is not empty, without its line end.
    pub async fn next(&mut self) -> std::io::Result<Read> {
        loop {
            match self.next_raw().await? {
                Read::Line(mut line) => {
                    if line.first() == Some(&b'\n') {
                        line.remove(0);
                    }
                    if !line.is_empty() {
                        return Ok(Read::Line(line));
                    }
                }
                other => return Ok(other),
            }
        }
    }

    async fn next_raw(&mut self) -> std::io::Result<Read> {
        self.buf.clear();
        // Bytes of a line past the bound, counted and not kept.
        let mut skipped: Option<usize> = None;
        loop {
            let available = self.reader.fill_buf().await?;
            if available.is_empty() {
                return Ok(Read::End);
            }
            let end = available.iter().position(|b| *b == b'\r');
            let chunk = &available[..end.unwrap_or(available.len())];
            match skipped.as_mut() {
                Some(n) => *n += chunk.len(),
                None if self.buf.len() + chunk.len() > self.max => skipped = Some(self.buf.len() + chunk.len()),
                None => self.buf.extend_from_slice(chunk),
            }
            let taken = chunk.len() + usize::from(end.is_some());
            self.reader.consume(taken);
            if end.is_some() {
                return Ok(match skipped {
                    Some(bytes) => {
                        self.buf.clear();
                        self.buf.shrink_to(4096);
                        Read::TooLong { bytes }
                    }
                    None => Read::Line(std::mem::take(&mut self.buf)),
                });
            }
            if skipped.is_some() {
                self.buf.clear();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reads(input: &'static [u8], max: usize) -> Vec<Read> {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            let mut reader = LineReader::new(tokio::io::BufReader::with_capacity(4, input), max);
            let mut out = Vec::new();
            loop {
                let r = reader.next().await.unwrap();
                let end = r == Read::End;
                out.push(r);
                if end {
                    return out;
                }
            }
        })
    }

    fn line(s: &[u8]) -> Read {
        Read::Line(s.to_vec())
    }

    #[test]
    fn splits_on_cr_keeps_lf_inside_and_skips_long_lines() {
        assert_eq!(
            reads(b"SSMI,101,1\rmenu\n1. a\r\r\nSSMI,3\r\nhalf", 16),
            [line(b"SSMI,101,1"), line(b"menu\n1. a"), line(b"SSMI,3"), Read::End]
        );
        assert_eq!(
            reads(b"0123456789abcdefXYZ\rok\r", 16),
            [Read::TooLong { bytes: 19 }, line(b"ok"), Read::End]
        );
        assert_eq!(reads(b"0123456789abcdef\r", 16), [line(b"0123456789abcdef"), Read::End]);
    }
}
