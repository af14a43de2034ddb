//! Cursor-style reader and length-patching writer helpers.
//!
//! The [`Reader`] never reads past its end; [`Reader::sub`] hands out a child reader limited to a
//! declared length, so a lying length field in a nested structure can only ever shrink what the
//! child sees, never extend it. Offsets in errors are absolute (relative to the start of the
//! buffer that the outermost reader was created for, plus a caller-given base).

use crate::error::{DecodeError, ErrorKind};

/// A bounds-checked cursor over untrusted bytes.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Reader<'a> {
    /// A reader over `buf`; error offsets start at 0.
    pub fn new(buf: &'a [u8]) -> Self {
        Self::with_base(buf, 0)
    }

    /// A reader over `buf` whose error offsets start at `base` (for example when `buf` is a
    /// decrypted body that followed a 28-byte header).
    pub fn with_base(buf: &'a [u8], base: usize) -> Self {
        Reader { buf, pos: 0, base }
    }

    /// Absolute offset of the next byte.
    pub fn offset(&self) -> usize {
        self.base + self.pos
    }

    /// Bytes not yet consumed.
    pub fn left(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// True when everything has been consumed.
    pub fn is_empty(&self) -> bool {
        self.left() == 0
    }

    /// An error of `kind` at the current offset.
    pub fn err(&self, kind: ErrorKind) -> DecodeError {
        DecodeError::new(self.offset(), kind)
    }

    /// Takes exactly `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.left() {
            return Err(self.err(ErrorKind::Truncated));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// Takes exactly `N` bytes as an array.
    pub fn take_array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    /// Reads one byte.
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take_array::<1>()?[0])
    }

    /// Reads a big-endian u16.
    pub fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.take_array()?))
    }

    /// Reads a big-endian u32.
    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.take_array()?))
    }

    /// Consumes and returns everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        let s = &self.buf[self.pos..];
        self.pos = self.buf.len();
        s
    }

    /// A child reader over the next `len` bytes (consumed from `self`). Fails with
    /// [`ErrorKind::Truncated`] if fewer than `len` bytes are left.
    pub fn sub(&mut self, len: usize) -> Result<Reader<'a>, DecodeError> {
        let base = self.offset();
        let s = self.take(len)?;
        Ok(Reader::with_base(s, base))
    }

    /// Fails with [`ErrorKind::TrailingData`] unless everything was consumed.
    pub fn expect_end(&self) -> Result<(), DecodeError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(self.err(ErrorKind::TrailingData))
        }
    }
}

/// Writes a big-endian length field of a structure whose size is only known once its contents
/// have been written: the guard remembers where the field is, derefs to the buffer for writing,
/// and patches the field with the number of bytes written since `start` when dropped.
pub struct LengthPatch<'a> {
    buf: &'a mut Vec<u8>,
    field: usize,
    width: usize,
    start: usize,
}

impl<'a> LengthPatch<'a> {
    /// Writes a 2-byte placeholder at the current end of `buf`; the patched value counts bytes
    /// from `start` (an absolute index into `buf`, usually the start of the enclosing header).
    pub fn u16(buf: &'a mut Vec<u8>, start: usize) -> Self {
        let field = buf.len();
        buf.extend_from_slice(&[0, 0]);
        LengthPatch {
            buf,
            field,
            width: 2,
            start,
        }
    }

    /// As [`LengthPatch::u16`] with a 4-byte field.
    pub fn u32(buf: &'a mut Vec<u8>, start: usize) -> Self {
        let field = buf.len();
        buf.extend_from_slice(&[0, 0, 0, 0]);
        LengthPatch {
            buf,
            field,
            width: 4,
            start,
        }
    }
}

impl std::ops::Deref for LengthPatch<'_> {
    type Target = Vec<u8>;
    fn deref(&self) -> &Vec<u8> {
        self.buf
    }
}

impl std::ops::DerefMut for LengthPatch<'_> {
    fn deref_mut(&mut self) -> &mut Vec<u8> {
        self.buf
    }
}

impl Drop for LengthPatch<'_> {
    fn drop(&mut self) {
        let len = self.buf.len() - self.start;
        // Oversized structures saturate; encoders check the total size afterwards and report
        // `EncodeError::TooLong`, so a saturated field never leaves the crate.
        if self.width == 2 {
            let v = u16::try_from(len).unwrap_or(u16::MAX);
            self.buf[self.field..self.field + 2].copy_from_slice(&v.to_be_bytes());
        } else {
            let v = u32::try_from(len).unwrap_or(u32::MAX);
            self.buf[self.field..self.field + 4].copy_from_slice(&v.to_be_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_cannot_overrun_parent() {
        let data = [1u8, 2, 3, 4, 5];
        let mut r = Reader::with_base(&data, 10);
        assert_eq!(r.u8().unwrap(), 1);
        let mut s = r.sub(2).unwrap();
        assert_eq!(s.offset(), 11);
        assert_eq!(s.u16().unwrap(), 0x0203);
        let e = s.u8().unwrap_err();
        assert_eq!(e.offset, 13);
        assert_eq!(e.kind, ErrorKind::Truncated);
        assert!(r.sub(3).is_err());
        assert_eq!(r.sub(2).unwrap().rest(), &[4, 5]);
    }

    #[test]
    fn length_patch_counts_from_start() {
        let mut v = vec![0xaa];
        {
            let mut g = LengthPatch::u16(&mut v, 0);
            g.extend_from_slice(&[1, 2, 3]);
        }
        assert_eq!(v, [0xaa, 0, 6, 1, 2, 3]);
        let mut w = Vec::new();
        {
            let mut g = LengthPatch::u32(&mut w, 0);
            g.push(9);
        }
        assert_eq!(w, [0, 0, 0, 5, 9]);
    }
}
