//! Buffered file I/O that keeps its buffer across the seeks a zip library makes.
//!
//! `std::io::BufReader` drops its buffer on every seek and `BufWriter` flushes on every
//! position query. A zip reader seeks to each entry's local header, which is usually where the
//! previous entry ended, and a zip writer asks for its position before each entry; with the
//! std types a 10,000-entry wheel costs tens of thousands of syscalls and re-reads a buffer's
//! worth of bytes per entry. These two types make those seeks free when they stay in place.

use std::io::{self, Read, Seek, SeekFrom, Write};

/// A buffered reader whose seeks inside the buffered window cost nothing.
pub struct SeekBufReader<R> {
    inner: R,
    buffer: Box<[u8]>,
    /// File offset of `buffer[0]`.
    buffer_start: u64,
    /// Valid bytes in `buffer`.
    filled: usize,
    /// Read position within `buffer`.
    position: usize,
}

impl<R: Read + Seek> SeekBufReader<R> {
    pub fn with_capacity(capacity: usize, mut inner: R) -> io::Result<Self> {
        let buffer_start = inner.stream_position()?;
        Ok(SeekBufReader {
            inner,
            buffer: vec![0; capacity].into_boxed_slice(),
            buffer_start,
            filled: 0,
            position: 0,
        })
    }

    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    fn offset(&self) -> u64 {
        self.buffer_start + self.position as u64
    }
}

impl<R: Read + Seek> Read for SeekBufReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.position == self.filled {
            // Large reads bypass the buffer; the inner reader is already at our offset.
            self.buffer_start += self.filled as u64;
            self.position = 0;
            self.filled = 0;
            if out.len() >= self.buffer.len() {
                let read = self.inner.read(out)?;
                self.buffer_start += read as u64;
                return Ok(read);
            }
            self.filled = self.inner.read(&mut self.buffer)?;
        }
        let available = &self.buffer[self.position..self.filled];
        let count = available.len().min(out.len());
        out[..count].copy_from_slice(&available[..count]);
        self.position += count;
        Ok(count)
    }
}

impl<R: Read + Seek> Seek for SeekBufReader<R> {
    fn seek(&mut self, target: SeekFrom) -> io::Result<u64> {
        let wanted = match target {
            SeekFrom::Start(offset) => Some(offset),
            SeekFrom::Current(delta) => self.offset().checked_add_signed(delta),
            SeekFrom::End(_) => None,
        };
        if let Some(offset) = wanted
            && offset >= self.buffer_start
            && offset <= self.buffer_start + self.filled as u64
        {
            self.position = (offset - self.buffer_start) as usize;
            return Ok(offset);
        }
        // Outside the window: move the inner reader and start an empty buffer there.
        let landed = match target {
            SeekFrom::Current(_) => self.inner.seek(SeekFrom::Start(wanted.ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidInput, "seek before the start of the file")
            })?))?,
            other => self.inner.seek(other)?,
        };
        self.buffer_start = landed;
        self.filled = 0;
        self.position = 0;
        Ok(landed)
    }

    fn stream_position(&mut self) -> io::Result<u64> {
        Ok(self.offset())
    }
}

/// A buffered writer that knows its position, so position queries need no flush.
pub struct PositionedWriter<W: Write + Seek> {
    inner: W,
    buffer: Vec<u8>,
    /// File offset of `buffer[0]`.
    buffer_start: u64,
}

impl<W: Write + Seek> PositionedWriter<W> {
    pub fn with_capacity(capacity: usize, mut inner: W) -> io::Result<Self> {
        let buffer_start = inner.stream_position()?;
        Ok(PositionedWriter {
            inner,
            buffer: Vec::with_capacity(capacity),
            buffer_start,
        })
    }

    fn flush_buffer(&mut self) -> io::Result<()> {
        if !self.buffer.is_empty() {
            self.inner.write_all(&self.buffer)?;
            self.buffer_start += self.buffer.len() as u64;
            self.buffer.clear();
        }
        Ok(())
    }

    /// Flushes and returns the inner writer.
    pub fn into_inner(mut self) -> io::Result<W> {
        self.flush_buffer()?;
        self.inner.flush()?;
        Ok(self.inner)
    }
}

impl<W: Write + Seek> Write for PositionedWriter<W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        if self.buffer.len() + bytes.len() > self.buffer.capacity() {
            self.flush_buffer()?;
        }
        if bytes.len() >= self.buffer.capacity() {
            let written = self.inner.write(bytes)?;
            self.buffer_start += written as u64;
            return Ok(written);
        }
        self.buffer.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.flush_buffer()?;
        self.inner.flush()
    }
}

impl<W: Write + Seek> Seek for PositionedWriter<W> {
    fn seek(&mut self, target: SeekFrom) -> io::Result<u64> {
        if target == SeekFrom::Current(0) {
            return self.stream_position();
        }
        self.flush_buffer()?;
        self.buffer_start = self.inner.seek(target)?;
        Ok(self.buffer_start)
    }

    fn stream_position(&mut self) -> io::Result<u64> {
        Ok(self.buffer_start + self.buffer.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn reader_seeks_inside_and_outside_the_window() {
        let data: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
        let mut reader = SeekBufReader::with_capacity(64, Cursor::new(data.clone())).unwrap();
        let mut two = [0u8; 2];
        reader.read_exact(&mut two).unwrap();
        assert_eq!(two, [0, 1]);
        reader.seek(SeekFrom::Start(10)).unwrap();
        reader.read_exact(&mut two).unwrap();
        assert_eq!(two, [10, 11]);
        reader.seek(SeekFrom::Start(5000)).unwrap();
        reader.read_exact(&mut two).unwrap();
        assert_eq!(two, [data[5000], data[5001]]);
        reader.seek(SeekFrom::Current(-2)).unwrap();
        let mut rest = Vec::new();
        reader.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, data[5000..]);
        assert_eq!(reader.seek(SeekFrom::End(-1)).unwrap(), 9999);
        let mut large = vec![0u8; 500];
        reader.seek(SeekFrom::Start(100)).unwrap();
        reader.read_exact(&mut large).unwrap();
        assert_eq!(large, data[100..600]);
    }

    #[test]
    fn writer_tracks_its_position_and_seeks_back() {
        let mut writer = PositionedWriter::with_capacity(16, Cursor::new(Vec::new())).unwrap();
        writer.write_all(b"hello ").unwrap();
        assert_eq!(writer.stream_position().unwrap(), 6);
        writer.write_all(&[b'x'; 40]).unwrap();
        assert_eq!(writer.stream_position().unwrap(), 46);
        writer.seek(SeekFrom::Start(0)).unwrap();
        writer.write_all(b"HELLO").unwrap();
        writer.seek(SeekFrom::End(0)).unwrap();
        writer.write_all(b"!").unwrap();
        let bytes = writer.into_inner().unwrap().into_inner();
        assert_eq!(&bytes[..6], b"HELLO ");
        assert_eq!(bytes.len(), 47);
        assert_eq!(bytes[46], b'!');
    }
}
