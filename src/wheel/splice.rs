//! Editing a few bytes of a deflated member without deflating all of it again: the member is
//! inflated once with the start of every deflate block noted ([`inflate_indexed`]); an edit
//! then deflates anew only the blocks from the one holding it to the first that starts a
//! window (32 KiB) past it, and copies the rest of the old stream bit for bit, shifted to its
//! new bit position ([`splice`]). The result inflates to the edited bytes exactly.
//!
//! zlib's stream interface (through `libz-rs-sys`, zlib-rs under its C names) is used
//! directly: `Z_BLOCK` stops inflating at each block end and tells the bit position, and
//! `deflatePrime` starts the new blocks at the bit where the old ones stopped.

use std::io::{Read, Write};
use std::ops::Range;

use libz_rs_sys as z;

/// How far back a deflate match may reach: bytes this far past an edit may copy it.
pub const WINDOW: u64 = 32 * 1024;

/// The start of a deflate block: its bit in the compressed stream and its byte in the
/// inflated one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Boundary {
    pub bit: u64,
    pub offset: u64,
}

/// What one indexed inflate found.
#[derive(Debug, Clone, Default)]
pub struct BlockIndex {
    /// Every block start, in stream order (the first at bit 0).
    pub boundaries: Vec<Boundary>,
    /// Compressed bytes read (up to the end of the last block's byte).
    pub compressed: u64,
    /// Bytes inflated.
    pub size: u64,
}

/// A deflate stream that cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum SpliceError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("the deflate stream is damaged: {0}")]
    Damaged(String),
    #[error("the deflate stream ends early, after {0} compressed bytes")]
    Truncated(u64),
    #[error("zlib refused to {0}")]
    Zlib(&'static str),
}

fn stream_size() -> i32 {
    std::mem::size_of::<z::z_stream>() as i32
}

fn message(stream: &z::z_stream) -> String {
    if stream.msg.is_null() {
        "invalid data".to_string()
    } else {
        // SAFETY: zlib sets `msg` to a static NUL-terminated string.
        unsafe { std::ffi::CStr::from_ptr(stream.msg) }
            .to_string_lossy()
            .into_owned()
    }
}

/// A raw (headerless) inflate stream, ended on drop. Boxed: zlib's state points back at it.
struct Inflater(Box<z::z_stream>);

impl Inflater {
    fn new() -> Result<Self, SpliceError> {
        let mut stream = Box::new(z::z_stream::default());
        // SAFETY: a zeroed stream with default allocators, initialised once.
        let status = unsafe { z::inflateInit2_(&mut *stream, -15, z::zlibVersion(), stream_size()) };
        if status != z::Z_OK {
            return Err(SpliceError::Zlib("start inflating"));
        }
        Ok(Inflater(stream))
    }
}

impl Drop for Inflater {
    fn drop(&mut self) {
        // SAFETY: initialised in `new`.
        unsafe { z::inflateEnd(&mut *self.0) };
    }
}

/// A raw deflate stream, ended on drop.
struct Deflater(Box<z::z_stream>);

impl Deflater {
    fn new(level: i32) -> Result<Self, SpliceError> {
        let mut stream = Box::new(z::z_stream::default());
        // SAFETY: as for the inflater.
        let status = unsafe {
            z::deflateInit2_(
                &mut *stream,
                level,
                z::Z_DEFLATED,
                -15,
                8,
                z::Z_DEFAULT_STRATEGY,
                z::zlibVersion(),
                stream_size(),
            )
        };
        if status != z::Z_OK {
            return Err(SpliceError::Zlib("start deflating"));
        }
        Ok(Deflater(stream))
    }

    /// Deflates `input` with `flush`, writing everything produced to `out`.
    fn run(&mut self, input: &[u8], flush: i32, out: &mut dyn Write) -> Result<u64, SpliceError> {
        let mut buffer = vec![0u8; 256 * 1024];
        let mut written = 0;
        self.0.next_in = input.as_ptr();
        self.0.avail_in = input.len() as u32;
        loop {
            self.0.next_out = buffer.as_mut_ptr();
            self.0.avail_out = buffer.len() as u32;
            // SAFETY: the buffers outlive the call; the stream was initialised.
            let status = unsafe { z::deflate(&mut *self.0, flush) };
            let produced = buffer.len() - self.0.avail_out as usize;
            out.write_all(&buffer[..produced])?;
            written += produced as u64;
            match status {
                z::Z_STREAM_END => break,
                z::Z_OK | z::Z_BUF_ERROR if self.0.avail_out == 0 => continue,
                z::Z_OK | z::Z_BUF_ERROR => break,
                _ => return Err(SpliceError::Zlib("deflate")),
            }
        }
        Ok(written)
    }
}

impl Drop for Deflater {
    fn drop(&mut self) {
        // SAFETY: initialised in `new`.
        unsafe { z::deflateEnd(&mut *self.0) };
    }
}

/// Inflates the raw deflate stream read from `input` (which may hold more after it), handing
/// every inflated piece to `sink` in order, and notes where each block starts.
pub fn inflate_indexed(
    input: &mut dyn Read,
    sink: &mut dyn FnMut(&[u8]) -> std::io::Result<()>,
) -> Result<BlockIndex, SpliceError> {
    let mut inflater = Inflater::new()?;
    let stream = &mut *inflater.0;
    let mut input_buffer = vec![0u8; 1 << 20];
    let mut output = vec![0u8; 1 << 20];
    let mut index = BlockIndex {
        boundaries: vec![Boundary { bit: 0, offset: 0 }],
        ..BlockIndex::default()
    };
    let mut buffered = 0usize;
    let mut used = 0usize;
    let mut at_end = false;
    loop {
        if used == buffered && !at_end {
            buffered = input.read(&mut input_buffer)?;
            used = 0;
            at_end = buffered == 0;
        }
        stream.next_in = input_buffer[used..].as_ptr();
        stream.avail_in = (buffered - used) as u32;
        stream.next_out = output.as_mut_ptr();
        stream.avail_out = output.len() as u32;
        // SAFETY: both buffers outlive the call; the stream was initialised.
        let status = unsafe { z::inflate(stream, z::Z_BLOCK) };
        used = buffered - stream.avail_in as usize;
        let produced = output.len() - stream.avail_out as usize;
        if produced > 0 {
            sink(&output[..produced])?;
        }
        match status {
            z::Z_STREAM_END => break,
            z::Z_BUF_ERROR if at_end => return Err(SpliceError::Truncated(stream.total_in)),
            z::Z_OK | z::Z_BUF_ERROR => {}
            _ => return Err(SpliceError::Damaged(message(stream))),
        }
        // At a block start (128), not past the last block (64): the low six bits are the
        // bits read ahead of it.
        if stream.data_type & 128 != 0 && stream.data_type & 64 == 0 {
            let boundary = Boundary {
                bit: stream.total_in * 8 - (stream.data_type & 63) as u64,
                offset: stream.total_out,
            };
            if index.boundaries.last() != Some(&boundary) {
                index.boundaries.push(boundary);
            }
        }
    }
    index.compressed = stream.total_in;
    index.size = stream.total_out;
    Ok(index)
}

/// Reads `length` bytes at `offset` of `file`.
fn read_at(file: &std::fs::File, offset: u64, length: usize) -> std::io::Result<Vec<u8>> {
    use std::os::unix::fs::FileExt as _;
    let mut bytes = vec![0u8; length];
    file.read_exact_at(&mut bytes, offset)?;
    Ok(bytes)
}

/// Copies `length` bytes at `offset` of `file` to `out`, a chunk at a time.
fn copy_range(file: &std::fs::File, offset: u64, length: u64, out: &mut dyn Write) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt as _;
    let mut buffer = vec![0u8; (1 << 20).min(length as usize)];
    let mut done = 0;
    while done < length {
        let chunk = (length - done).min(buffer.len() as u64) as usize;
        file.read_exact_at(&mut buffer[..chunk], offset + done)?;
        out.write_all(&buffer[..chunk])?;
        done += chunk as u64;
    }
    Ok(())
}

/// Copies the compressed bytes from bit `bit` of the stream at `start` (`end` its byte length)
/// to `out`, moved `shift` bits down: what was bit `bit` becomes bit 0 of the first byte.
fn copy_shifted(
    file: &std::fs::File,
    start: u64,
    bit: u64,
    end: u64,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt as _;
    let shift = (bit % 8) as u32;
    let first = bit / 8;
    if shift == 0 {
        return copy_range(file, start + first, end - first, out);
    }
    const CHUNK: usize = 1 << 20;
    let mut input = vec![0u8; CHUNK + 1];
    let mut shifted = vec![0u8; CHUNK];
    let mut at = first;
    while at < end {
        let available = (end - at) as usize;
        let take = available.min(CHUNK + 1);
        file.read_exact_at(&mut input[..take], start + at)?;
        // Each output byte takes the high bits of one input byte and the low bits of the next.
        let produce = take.min(CHUNK).min(available);
        for (index, byte) in shifted[..produce].iter_mut().enumerate() {
            let next = if index + 1 < take { input[index + 1] } else { 0 };
            *byte = (input[index] >> shift) | (next << (8 - shift));
        }
        out.write_all(&shifted[..produce])?;
        at += produce as u64;
    }
    Ok(())
}

/// How a member was spliced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spliced {
    /// Compressed bytes written.
    pub compressed: u64,
    /// Inflated bytes deflated anew (the rest was copied).
    pub deflated_anew: u64,
}

/// The blocks an edit touches: from the start of the block holding its start to the first
/// block start a window past its end (none: the edit reaches the last block), in a member of
/// `size` inflated bytes.
#[derive(Debug, Clone, Copy)]
struct Touched {
    from: Boundary,
    to: Option<Boundary>,
    size: u64,
}

impl Touched {
    /// The blocks an edit of `changed` touches.
    fn of(index: &BlockIndex, changed: &Range<u64>) -> Self {
        let boundaries = &index.boundaries;
        let before = boundaries.partition_point(|boundary| boundary.offset <= changed.start);
        let from = boundaries[before.saturating_sub(1)];
        let to = boundaries[before..]
            .iter()
            .find(|boundary| boundary.offset >= changed.end.saturating_add(WINDOW) && boundary.bit > from.bit)
            .copied();
        Touched {
            from,
            to,
            size: index.size,
        }
    }

    /// The inflated bytes of the touched blocks.
    fn inflated(&self) -> u64 {
        self.to.map_or(self.size, |boundary| boundary.offset) - self.from.offset
    }

    /// Deflates the touched blocks of `edited` anew into `out` at `level`, following on the
    /// old stream (`original` at `stream_start`) kept before them: the stream ends when no
    /// block follows, else at a byte boundary (an empty stored block) for the old ones to
    /// follow. The inflated bytes deflated.
    fn deflate_anew(
        &self,
        original: &std::fs::File,
        stream_start: u64,
        edited: &std::fs::File,
        level: i32,
        out: &mut dyn Write,
    ) -> Result<u64, SpliceError> {
        let mut deflater = deflater_at(original, stream_start, self.from, edited, level)?;
        let end = self.to.map_or(self.size, |boundary| boundary.offset);
        let mut at = self.from.offset;
        while at < end {
            let chunk = (end - at).min(1 << 20);
            let bytes = read_at(edited, at, chunk as usize)?;
            deflater.run(&bytes, z::Z_NO_FLUSH, out)?;
            at += chunk;
        }
        let flush = if self.to.is_some() {
            z::Z_SYNC_FLUSH
        } else {
            z::Z_FINISH
        };
        deflater.run(&[], flush, out)?;
        Ok(self.inflated())
    }
}

/// A deflater for the blocks that start at `from`: primed with the bits of the old stream's
/// last kept byte, and the window of the edited bytes before `from` as its dictionary.
fn deflater_at(
    original: &std::fs::File,
    stream_start: u64,
    from: Boundary,
    edited: &std::fs::File,
    level: i32,
) -> Result<Deflater, SpliceError> {
    let mut deflater = Deflater::new(level)?;
    let held_bits = (from.bit % 8) as i32;
    if held_bits > 0 {
        let byte = read_at(original, stream_start + from.bit / 8, 1)?[0];
        let value = i32::from(byte) & ((1 << held_bits) - 1);
        // SAFETY: the stream was initialised; nothing was deflated yet.
        if unsafe { z::deflatePrime(&mut *deflater.0, held_bits, value) } != z::Z_OK {
            return Err(SpliceError::Zlib("prime the new blocks"));
        }
    }
    // The window before the change as the dictionary: the new blocks may refer back into it.
    let window_start = from.offset.saturating_sub(WINDOW);
    if window_start < from.offset {
        let dictionary = read_at(edited, window_start, (from.offset - window_start) as usize)?;
        // SAFETY: as above; the dictionary outlives the call.
        let status = unsafe {
            z::deflateSetDictionary(&mut *deflater.0, dictionary.as_ptr(), dictionary.len() as u32)
        };
        if status != z::Z_OK {
            return Err(SpliceError::Zlib("set the dictionary"));
        }
    }
    Ok(deflater)
}

/// Inflates again the part of a raw deflate stream (at `stream_start` of `file`) that makes
/// the inflated bytes `wanted`, without starting from its beginning: from `from`, a block
/// start [`inflate_indexed`] noted at or before `wanted.start`, with `window` (the inflated
/// bytes just before `from`, up to [`WINDOW`] of them) as what its matches may refer back
/// to. Hands `sink` each piece of `wanted` with its offset in the inflated member.
pub fn inflate_range(
    file: &std::fs::File,
    stream_start: u64,
    from: Boundary,
    window: &[u8],
    wanted: Range<u64>,
    sink: &mut dyn FnMut(u64, &[u8]) -> std::io::Result<()>,
) -> Result<(), SpliceError> {
    use std::os::unix::fs::FileExt as _;
    let mut inflater = Inflater::new()?;
    let stream = &mut *inflater.0;
    let mut at = stream_start + from.bit / 8;
    let held_bits = (from.bit % 8) as i32;
    if held_bits > 0 {
        // The block starts inside a byte: its high bits go in first.
        let byte = read_at(file, at, 1)?[0];
        // SAFETY: the stream was initialised; nothing was inflated yet.
        if unsafe { z::inflatePrime(stream, 8 - held_bits, i32::from(byte >> held_bits)) } != z::Z_OK {
            return Err(SpliceError::Zlib("prime the inflater"));
        }
        at += 1;
    }
    if !window.is_empty() {
        let length = window.len().min(WINDOW as usize);
        let window = &window[window.len() - length..];
        // SAFETY: a raw inflater before its first call; `window` outlives the call.
        if unsafe { z::inflateSetDictionary(stream, window.as_ptr(), length as u32) } != z::Z_OK {
            return Err(SpliceError::Zlib("set the window"));
        }
    }
    let mut input = vec![0u8; 1 << 20];
    let mut output = vec![0u8; 1 << 20];
    let mut offset = from.offset;
    let mut buffered = 0usize;
    let mut used = 0usize;
    let mut at_end = false;
    while offset < wanted.end {
        if used == buffered && !at_end {
            buffered = file.read_at(&mut input, at)?;
            at += buffered as u64;
            used = 0;
            at_end = buffered == 0;
        }
        stream.next_in = input[used..].as_ptr();
        stream.avail_in = (buffered - used) as u32;
        stream.next_out = output.as_mut_ptr();
        stream.avail_out = output.len() as u32;
        // SAFETY: both buffers outlive the call; the stream was initialised.
        let status = unsafe { z::inflate(stream, z::Z_NO_FLUSH) };
        used = buffered - stream.avail_in as usize;
        let produced = output.len() - stream.avail_out as usize;
        let piece = offset..offset + produced as u64;
        let start = piece.start.max(wanted.start);
        let end = piece.end.min(wanted.end);
        if start < end {
            sink(start, &output[(start - offset) as usize..(end - offset) as usize])?;
        }
        offset = piece.end;
        match status {
            z::Z_STREAM_END => break,
            z::Z_BUF_ERROR if at_end => return Err(SpliceError::Truncated(stream.total_in)),
            z::Z_OK | z::Z_BUF_ERROR => {}
            _ => return Err(SpliceError::Damaged(message(stream))),
        }
    }
    if offset < wanted.end {
        return Err(SpliceError::Damaged(format!(
            "it ends at byte {offset}, before byte {} was made again",
            wanted.end
        )));
    }
    Ok(())
}

/// Writes to `out` a deflate stream that inflates to `edited` (a file as long as the old
/// member, differing from it only in `changed`), reusing the old stream (`stream_length`
/// bytes at `stream_start` of `original`, indexed by `index`): bytes before the block that
/// holds the change and from the first block starting a window past it are copied, the
/// blocks between deflated anew at `level`.
pub fn splice(
    original: &std::fs::File,
    stream_start: u64,
    index: &BlockIndex,
    edited: &std::fs::File,
    changed: Range<u64>,
    level: i32,
    out: &mut dyn Write,
) -> Result<Spliced, SpliceError> {
    let touched = Touched::of(index, &changed);
    let mut counter = CountingWriter { inner: out, count: 0 };
    // The old stream up to the block holding the change; its last, partial byte is primed.
    copy_range(original, stream_start, touched.from.bit / 8, &mut counter)?;
    let deflated_anew = touched.deflate_anew(original, stream_start, edited, level, &mut counter)?;
    if let Some(to) = touched.to {
        // The old stream from the block that starts there, shifted onto the byte boundary.
        copy_shifted(original, stream_start, to.bit, index.compressed, &mut counter)?;
    }
    Ok(Spliced {
        compressed: counter.count,
        deflated_anew,
    })
}

/// A splice worked out but not written: the new stream is the old one's first `prefix`
/// bytes, then `middle` (the touched blocks deflated anew), then the old stream from bit
/// `suffix_bit` to its end shifted onto a byte boundary. Only the middle is held: the rest
/// is read from the old stream when the new one is read ([`SplicePlan::read_at`]).
#[derive(Debug, Clone)]
pub struct SplicePlan {
    prefix: u64,
    middle: Vec<u8>,
    suffix_bit: Option<u64>,
    /// The old stream's length in bytes.
    old_length: u64,
    /// Inflated bytes deflated anew.
    pub deflated_anew: u64,
}

/// The most inflated bytes a [`SplicePlan`] deflates anew into memory.
pub const PLAN_AT_MOST: u64 = 16 << 20;

/// Works out the splice [`splice`] writes, holding only the blocks deflated anew; `None` when
/// they would be more than [`PLAN_AT_MOST`] inflated bytes (then [`splice`] streams it).
pub fn plan_splice(
    original: &std::fs::File,
    stream_start: u64,
    index: &BlockIndex,
    edited: &std::fs::File,
    changed: Range<u64>,
    level: i32,
) -> Result<Option<SplicePlan>, SpliceError> {
    let touched = Touched::of(index, &changed);
    if touched.inflated() > PLAN_AT_MOST {
        return Ok(None);
    }
    let mut middle = Vec::new();
    let deflated_anew = touched.deflate_anew(original, stream_start, edited, level, &mut middle)?;
    Ok(Some(SplicePlan {
        prefix: touched.from.bit / 8,
        middle,
        suffix_bit: touched.to.map(|boundary| boundary.bit),
        old_length: index.compressed,
        deflated_anew,
    }))
}

impl SplicePlan {
    fn suffix_length(&self) -> u64 {
        self.suffix_bit.map_or(0, |bit| self.old_length - bit / 8)
    }

    /// The new stream's length in bytes.
    pub fn compressed(&self) -> u64 {
        self.prefix + self.middle.len() as u64 + self.suffix_length()
    }

    /// Reads the new stream's bytes from `offset` into `out` (fewer at the end of a part),
    /// the old stream being at `stream_start` of `original`.
    pub fn read_at(
        &self,
        original: &std::fs::File,
        stream_start: u64,
        offset: u64,
        out: &mut [u8],
    ) -> std::io::Result<usize> {
        use std::os::unix::fs::FileExt as _;
        let middle_start = self.prefix;
        let suffix_start = middle_start + self.middle.len() as u64;
        if out.is_empty() || offset >= self.compressed() {
            return Ok(0);
        }
        if offset < middle_start {
            let count = ((middle_start - offset) as usize).min(out.len());
            original.read_exact_at(&mut out[..count], stream_start + offset)?;
            return Ok(count);
        }
        if offset < suffix_start {
            let from = &self.middle[(offset - middle_start) as usize..];
            let count = from.len().min(out.len());
            out[..count].copy_from_slice(&from[..count]);
            return Ok(count);
        }
        let Some(bit) = self.suffix_bit else {
            return Ok(0);
        };
        // Output byte `i` of the suffix takes the high bits of old byte `first + i` and the
        // low bits of the one after it (none past the end).
        let first = bit / 8 + (offset - suffix_start);
        let count = ((self.old_length - first) as usize).min(out.len());
        let shift = (bit % 8) as u32;
        if shift == 0 {
            original.read_exact_at(&mut out[..count], stream_start + first)?;
            return Ok(count);
        }
        let available = ((self.old_length - first) as usize).min(count + 1);
        // One byte more than the output, zero past the end of the old stream.
        let mut input = vec![0u8; count + 1];
        original.read_exact_at(&mut input[..available], stream_start + first)?;
        for (byte, pair) in out[..count].iter_mut().zip(input.windows(2)) {
            *byte = (pair[0] >> shift) | (pair[1] << (8 - shift));
        }
        Ok(count)
    }
}

struct CountingWriter<'a> {
    inner: &'a mut dyn Write,
    count: u64,
}

impl Write for CountingWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let written = self.inner.write(bytes)?;
        self.count += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Text that compresses into many blocks, with matches reaching far back.
    fn sample(length: usize) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(length);
        let mut state = 0x2545_f491_u32;
        while bytes.len() < length {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            if state.is_multiple_of(7) && bytes.len() > 1000 {
                // A repeat of something earlier.
                let from = (state as usize / 7) % (bytes.len() - 500);
                let piece: Vec<u8> = bytes[from..from + 200].to_vec();
                bytes.extend_from_slice(&piece);
            } else {
                bytes.extend(format!("word{} ", state % 5000).bytes());
            }
        }
        bytes.truncate(length);
        bytes
    }

    fn deflate(bytes: &[u8], level: u32) -> Vec<u8> {
        let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::new(level));
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    fn inflate(bytes: &[u8]) -> Vec<u8> {
        let mut decoder = flate2::read::DeflateDecoder::new(bytes);
        let mut out = Vec::new();
        decoder.read_to_end(&mut out).unwrap();
        out
    }

    fn file_with(directory: &std::path::Path, name: &str, bytes: &[u8]) -> std::fs::File {
        let path = directory.join(name);
        fs_err::write(&path, bytes).unwrap();
        fs_err::File::open(path).unwrap().into_file()
    }

    #[test]
    fn a_range_inflated_again_from_any_block_start_is_the_same_bytes() {
        let data = sample(3 << 20);
        let directory = tempfile::tempdir().unwrap();
        for level in [1, 6, 9] {
            let compressed = deflate(&data, level);
            // The stream starts 5 bytes into the file, as a member's does after its header.
            let mut stored = b"head!".to_vec();
            stored.extend_from_slice(&compressed);
            let file = file_with(directory.path(), &format!("stream-{level}"), &stored);
            let index = inflate_indexed(&mut compressed.as_slice(), &mut |_| Ok(())).unwrap();
            let picks = [0, 1, index.boundaries.len() / 2, index.boundaries.len() - 1];
            for pick in picks {
                let from = index.boundaries[pick];
                let window_start = from.offset.saturating_sub(WINDOW) as usize;
                let window = &data[window_start..from.offset as usize];
                for wanted in [
                    from.offset..data.len() as u64,
                    from.offset + 10..(from.offset + 70_000).min(data.len() as u64),
                ] {
                    let mut out = Vec::new();
                    let mut next = wanted.start;
                    inflate_range(&file, 5, from, window, wanted.clone(), &mut |at, piece| {
                        assert_eq!(at, next);
                        next += piece.len() as u64;
                        out.extend_from_slice(piece);
                        Ok(())
                    })
                    .unwrap();
                    assert_eq!(
                        out,
                        &data[wanted.start as usize..wanted.end as usize],
                        "level {level}, block {pick}"
                    );
                }
            }
            // Asking for bytes past the end is an error, not a short answer.
            let last = *index.boundaries.last().unwrap();
            let error = inflate_range(
                &file,
                5,
                last,
                &data[..0],
                0..data.len() as u64 + 1,
                &mut |_, _| Ok(()),
            );
            assert!(error.is_err(), "level {level}");
        }
    }

    #[test]
    fn the_index_finds_every_block_and_the_bytes_come_out_whole() {
        let data = sample(3 << 20);
        for level in [1, 6, 9] {
            let compressed = deflate(&data, level);
            let mut out = Vec::new();
            let index = inflate_indexed(&mut compressed.as_slice(), &mut |piece| {
                out.extend_from_slice(piece);
                Ok(())
            })
            .unwrap();
            assert_eq!(out, data);
            assert_eq!(index.size, data.len() as u64);
            assert_eq!(index.compressed, compressed.len() as u64);
            // zlib-rs' level 1 writes one block per buffer; the others many.
            assert!(
                level == 1 || index.boundaries.len() > 5,
                "{} blocks",
                index.boundaries.len()
            );
            assert!(index.boundaries.windows(2).all(|pair| pair[0].bit < pair[1].bit));
        }
    }

    #[test]
    fn a_damaged_or_short_stream_is_an_error() {
        let compressed = deflate(&sample(100_000), 6);
        let short = &compressed[..compressed.len() / 2];
        assert!(matches!(
            inflate_indexed(&mut &short[..], &mut |_| Ok(())),
            Err(SpliceError::Truncated(_))
        ));
        let mut damaged = compressed.clone();
        damaged[0] = 0xff; // block type 3 does not exist
        assert!(matches!(
            inflate_indexed(&mut damaged.as_slice(), &mut |_| Ok(())),
            Err(SpliceError::Damaged(_))
        ));
    }

    #[test]
    fn spliced_streams_inflate_to_the_edited_bytes() {
        let directory = tempfile::tempdir().unwrap();
        let data = sample(4 << 20);
        for level in [1, 6, 9] {
            let compressed = deflate(&data, level);
            let original = file_with(directory.path(), "stream", &compressed);
            let index = inflate_indexed(&mut compressed.as_slice(), &mut |_| Ok(())).unwrap();
            // At the very start, in the middle, within a window of the end, at the last byte.
            let length = data.len() as u64;
            for changed in [
                0..10,
                1_234_567..1_234_600,
                length - 20_000..length - 19_990,
                length - 1..length,
            ] {
                let mut edited = data.clone();
                for byte in &mut edited[changed.start as usize..changed.end as usize] {
                    *byte = byte.wrapping_add(1);
                }
                let edited_file = file_with(directory.path(), "edited", &edited);
                let mut out = Vec::new();
                let spliced =
                    splice(&original, 0, &index, &edited_file, changed.clone(), 6, &mut out).unwrap();
                assert_eq!(spliced.compressed, out.len() as u64);
                assert!(inflate(&out) == edited, "level {level}, change {changed:?}");
                if level > 1 && changed.start > 0 && changed.end + 2 * WINDOW < length {
                    // Only the blocks around the change were deflated again.
                    assert!(spliced.deflated_anew < length / 4, "{spliced:?}");
                }
            }
        }
    }

    #[test]
    fn a_stream_inside_a_larger_file_is_spliced_from_its_offset() {
        let directory = tempfile::tempdir().unwrap();
        let data = sample(1 << 20);
        let compressed = deflate(&data, 6);
        let mut container = b"local header and name ...".to_vec();
        let start = container.len() as u64;
        container.extend_from_slice(&compressed);
        container.extend_from_slice(b"central directory after it");
        let original = file_with(directory.path(), "container", &container);
        let index = inflate_indexed(&mut &container[start as usize..], &mut |_| Ok(())).unwrap();
        assert_eq!(index.compressed, compressed.len() as u64);
        let mut edited = data.clone();
        edited[500_000] = b'#';
        let edited_file = file_with(directory.path(), "edited", &edited);
        let mut out = Vec::new();
        splice(
            &original,
            start,
            &index,
            &edited_file,
            500_000..500_001,
            6,
            &mut out,
        )
        .unwrap();
        assert!(inflate(&out) == edited);
    }

    #[test]
    fn a_planned_splice_reads_as_the_written_one_from_any_offset() {
        let directory = tempfile::tempdir().unwrap();
        let data = sample(2 << 20);
        for level in [1, 6] {
            let compressed = deflate(&data, level);
            let mut container = b"header".to_vec();
            container.extend_from_slice(&compressed);
            let original = file_with(directory.path(), "container", &container);
            let index = inflate_indexed(&mut &compressed[..], &mut |_| Ok(())).unwrap();
            let length = data.len() as u64;
            for changed in [0..10, 700_000..700_003, length - 1..length] {
                let mut edited = data.clone();
                for byte in &mut edited[changed.start as usize..changed.end as usize] {
                    *byte = byte.wrapping_add(1);
                }
                let edited_file = file_with(directory.path(), "edited", &edited);
                let mut written = Vec::new();
                splice(
                    &original,
                    6,
                    &index,
                    &edited_file,
                    changed.clone(),
                    6,
                    &mut written,
                )
                .unwrap();
                let plan = plan_splice(&original, 6, &index, &edited_file, changed.clone(), 6)
                    .unwrap()
                    .unwrap();
                assert_eq!(plan.compressed(), written.len() as u64);
                // Read in odd pieces, each call stopping at most at a part's end.
                for piece in [7usize, 4093, 1 << 20] {
                    let mut read = Vec::new();
                    let mut buffer = vec![0u8; piece];
                    loop {
                        let count = plan
                            .read_at(&original, 6, read.len() as u64, &mut buffer)
                            .unwrap();
                        if count == 0 {
                            break;
                        }
                        read.extend_from_slice(&buffer[..count]);
                    }
                    assert!(
                        read == written,
                        "level {level}, change {changed:?}, pieces of {piece}"
                    );
                }
                assert!(inflate(&written) == edited);
            }
        }
    }
}
