//! Reading lines from a telnet client: strips CR/LF and telnet option negotiation (IAC).

use ruvuma_plugin_api::tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt};

const IAC: u8 = 255;
const SB: u8 = 250;
const SE: u8 = 240;

/// Removes telnet commands: `IAC cmd`, `IAC WILL/WONT/DO/DONT opt`, `IAC SB ... IAC SE`;
/// `IAC IAC` is a literal 255.
pub fn strip_telnet(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        let b = input[i];
        if b != IAC {
            out.push(b);
            i += 1;
            continue;
        }
        match input.get(i + 1) {
            Some(&IAC) => {
                out.push(IAC);
                i += 2;
            }
            Some(&SB) => {
                let end = input[i + 2..]
                    .windows(2)
                    .position(|w| w == [IAC, SE])
                    .map_or(input.len(), |p| i + 2 + p + 2);
                i = end;
            }
            Some(251..=254) => i += 3,
            Some(_) => i += 2,
            None => i += 1,
        }
    }
    out
}

/// Reads one line of at most `max` bytes plus its line end; a longer run of bytes is cut there
/// and the rest read as the next line. `None` at end of input.
pub async fn read_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<Option<String>> {
    let n = reader.take(max as u64 + 2).read_until(b'\n', buf).await?;
    if n == 0 {
        return Ok(None);
    }
    while matches!(buf.last(), Some(b'\n' | b'\r')) {
        buf.pop();
    }
    let clean = strip_telnet(buf);
    Ok(Some(String::from_utf8_lossy(&clean).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_negotiation() {
        assert_eq!(strip_telnet(b"hi"), b"hi");
        assert_eq!(strip_telnet(&[IAC, 251, 1, b'a', IAC, IAC, b'b']), [b'a', IAC, b'b']);
        assert_eq!(strip_telnet(&[b'x', IAC, SB, 24, 0, b'v', IAC, SE, b'y']), b"xy");
        assert_eq!(strip_telnet(&[b'z', IAC, 244]), b"z");
    }

    #[test]
    fn reads_lines_and_cuts_long_ones() {
        let rt = ruvuma_plugin_api::tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut input: &[u8] = b"hello\r\nworld\nabcdefgh";
            let mut buf = Vec::new();
            let mut lines = Vec::new();
            while let Some(l) = read_line(&mut input, &mut buf, 5).await.unwrap() {
                lines.push(l);
                buf.clear();
            }
            assert_eq!(lines, ["hello", "world", "abcdefg", "h"]);
        });
    }
}
