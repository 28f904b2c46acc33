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

/// A buffered writer that knows its position, so position queries need no flush; seeks
/// inside the buffered window (a zip writer going back to a local header it just wrote) cost
/// nothing either. It can also hash everything it writes on a thread of its own
/// ([`PositionedWriter::hash_on_the_side`]), for as long as the file is written front to back.
pub struct PositionedWriter<W: Write + Seek> {
    inner: W,
    buffer: Vec<u8>,
    /// File offset of `buffer[0]`.
    buffer_start: u64,
    /// Where the next write goes in `buffer` (its length, unless a seek went back into it).
    cursor: usize,
    /// The sha256 of the bytes flushed so far, made on another thread; dropped once a seek
    /// leaves the window (the file is then no longer written front to back).
    digest: Option<SideDigest>,
}

/// A sha256 computed on another thread from the buffers handed to it, a bounded number at a
/// time.
struct SideDigest {
    full: std::sync::mpsc::SyncSender<Vec<u8>>,
    spare: std::sync::mpsc::Receiver<Vec<u8>>,
    allocated: usize,
    worker: std::thread::JoinHandle<[u8; 32]>,
}

/// Buffers in flight to the side digest at most (each the writer's capacity).
const SIDE_DEPTH: usize = 4;

impl SideDigest {
    fn start() -> Self {
        let (full, chunks) = std::sync::mpsc::sync_channel::<Vec<u8>>(SIDE_DEPTH);
        let (spare_sender, spare) = std::sync::mpsc::channel();
        let worker = std::thread::spawn(move || {
            use sha2::Digest as _;
            let mut hasher = sha2::Sha256::new();
            for chunk in chunks {
                hasher.update(&chunk);
                let _ = spare_sender.send(chunk);
            }
            hasher.finalize().into()
        });
        SideDigest {
            full,
            spare,
            allocated: 0,
            worker,
        }
    }

    /// Hands `buffer`'s bytes over and gives back an empty buffer of the same capacity.
    fn take(&mut self, buffer: Vec<u8>) -> io::Result<Vec<u8>> {
        let capacity = buffer.capacity();
        let mut spare = match self.spare.try_recv() {
            Ok(spare) => spare,
            Err(_) if self.allocated < SIDE_DEPTH + 1 => {
                self.allocated += 1;
                Vec::with_capacity(capacity)
            }
            Err(_) => self.spare.recv().map_err(|_| side_stopped())?,
        };
        spare.clear();
        self.full.send(buffer).map_err(|_| side_stopped())?;
        Ok(spare)
    }

    fn finish(self) -> io::Result<[u8; 32]> {
        drop(self.full);
        self.worker.join().map_err(|_| side_stopped())
    }
}

fn side_stopped() -> io::Error {
    io::Error::other("the thread hashing the written file stopped")
}

impl<W: Write + Seek> PositionedWriter<W> {
    pub fn with_capacity(capacity: usize, mut inner: W) -> io::Result<Self> {
        let buffer_start = inner.stream_position()?;
        Ok(PositionedWriter {
            inner,
            buffer: Vec::with_capacity(capacity),
            buffer_start,
            cursor: 0,
            digest: None,
        })
    }

    /// Hashes (sha256) every byte written from here on, on another thread: the sha256 of the
    /// whole file when it started empty ([`PositionedWriter::finish`]).
    pub fn hash_on_the_side(&mut self) {
        self.digest = Some(SideDigest::start());
    }

    fn flush_buffer(&mut self) -> io::Result<()> {
        if !self.buffer.is_empty() {
            self.inner.write_all(&self.buffer)?;
            self.buffer_start += self.buffer.len() as u64;
            match &mut self.digest {
                Some(digest) => {
                    let full = std::mem::take(&mut self.buffer);
                    self.buffer = digest.take(full)?;
                }
                None => self.buffer.clear(),
            }
        }
        self.cursor = 0;
        Ok(())
    }

    /// Flushes and returns the inner writer.
    pub fn into_inner(self) -> io::Result<W> {
        Ok(self.finish()?.0)
    }

    /// Flushes and returns the inner writer, with the sha256 of the bytes written since
    /// [`PositionedWriter::hash_on_the_side`] if they were written front to back.
    pub fn finish(mut self) -> io::Result<(W, Option<[u8; 32]>)> {
        self.flush_buffer()?;
        self.inner.flush()?;
        let digest = self.digest.take().map(SideDigest::finish).transpose()?;
        Ok((self.inner, digest))
    }
}

impl<W: Write + Seek> Write for PositionedWriter<W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        if self.cursor < self.buffer.len() {
            // Over bytes still in the buffer, after a seek back into it.
            let count = (self.buffer.len() - self.cursor).min(bytes.len());
            self.buffer[self.cursor..self.cursor + count].copy_from_slice(&bytes[..count]);
            self.cursor += count;
            return Ok(count);
        }
        if self.buffer.len() + bytes.len() > self.buffer.capacity() {
            self.flush_buffer()?;
        }
        if bytes.len() >= self.buffer.capacity() {
            let written = self.inner.write(bytes)?;
            self.buffer_start += written as u64;
            if let Some(digest) = &mut self.digest {
                let mut copy = Vec::with_capacity(written);
                copy.extend_from_slice(&bytes[..written]);
                let _spare = digest.take(copy)?;
            }
            return Ok(written);
        }
        self.buffer.extend_from_slice(bytes);
        self.cursor = self.buffer.len();
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.flush_buffer()?;
        self.inner.flush()
    }
}

impl<W: Write + Seek> Seek for PositionedWriter<W> {
    fn seek(&mut self, target: SeekFrom) -> io::Result<u64> {
        let window_end = self.buffer_start + self.buffer.len() as u64;
        let wanted = match target {
            SeekFrom::Start(offset) => Some(offset),
            SeekFrom::Current(delta) => self.stream_position()?.checked_add_signed(delta),
            // Written front to back, the file ends where the buffer does.
            SeekFrom::End(delta) if self.digest.is_some() => window_end.checked_add_signed(delta),
            SeekFrom::End(_) => None,
        };
        if let Some(offset) = wanted
            && offset >= self.buffer_start
            && offset <= window_end
        {
            self.cursor = (offset - self.buffer_start) as usize;
            return Ok(offset);
        }
        // Outside the window: the file is no longer written front to back.
        self.flush_buffer()?;
        if let Some(digest) = self.digest.take() {
            let _ = digest.finish();
        }
        self.buffer_start = self.inner.seek(target)?;
        Ok(self.buffer_start)
    }

    fn stream_position(&mut self) -> io::Result<u64> {
        Ok(self.buffer_start + self.cursor as u64)
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

    #[test]
    fn seeks_inside_the_window_keep_the_side_digest_and_others_drop_it() {
        use sha2::Digest as _;
        // Small writes, a seek back into the buffer to patch bytes, a large write, the end.
        let mut writer = PositionedWriter::with_capacity(16, Cursor::new(Vec::new())).unwrap();
        writer.hash_on_the_side();
        writer.write_all(b"0123456789").unwrap();
        writer.seek(SeekFrom::Start(2)).unwrap();
        writer.write_all(b"ab").unwrap();
        assert_eq!(writer.stream_position().unwrap(), 4);
        writer.seek(SeekFrom::End(0)).unwrap();
        writer.write_all(&[b'x'; 40]).unwrap();
        writer.write_all(b"tail").unwrap();
        writer.seek(SeekFrom::Current(-4)).unwrap();
        writer.write_all(b"TAIL").unwrap();
        let (cursor, digest) = writer.finish().unwrap();
        let bytes = cursor.into_inner();
        let mut expected = b"01ab456789".to_vec();
        expected.extend_from_slice(&[b'x'; 40]);
        expected.extend_from_slice(b"TAIL");
        assert_eq!(bytes, expected);
        assert_eq!(digest, Some(sha2::Sha256::digest(&expected).into()));
        // Back before the window: the bytes are right, the digest is gone.
        let mut writer = PositionedWriter::with_capacity(16, Cursor::new(Vec::new())).unwrap();
        writer.hash_on_the_side();
        writer.write_all(&[b'y'; 40]).unwrap();
        writer.write_all(b"z").unwrap();
        writer.seek(SeekFrom::Start(0)).unwrap();
        writer.write_all(b"Y").unwrap();
        let (cursor, digest) = writer.finish().unwrap();
        let bytes = cursor.into_inner();
        assert_eq!((bytes[0], bytes[1], bytes.len()), (b'Y', b'y', 41));
        assert_eq!(digest, None);
    }
}
