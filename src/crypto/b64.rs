//! base64url without padding, the text form of every envelope part.
//!
//! `base64-simd` (AVX2 and SSE4.1, or portable code) does the work, except that on
//! CPUs with AVX-512 VBMI whole blocks take a faster path, the method of Muła and
//! Lemire ("Base64 encoding and decoding at almost the speed of a memory copy",
//! 2019): per 48 bytes, one byte permute, one multishift and one table permute to
//! encode, and the reverse to decode. The part that is not a whole block, and all
//! validation of how the text ends, stays with `base64-simd`, so both paths accept
//! and reject exactly the same texts (the tests check this against `base64-simd`).

use base64_simd::URL_SAFE_NO_PAD as B64;

/// The text is not base64url without padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidBase64;

/// Appends the base64url (no padding) text of `bytes` to `out`.
pub fn encode_append(bytes: &[u8], out: &mut String) {
    #[cfg(target_arch = "x86_64")]
    let bytes = vbmi::encode_blocks_append(bytes, out);
    B64.encode_append(bytes, out);
}

/// Decodes base64url without padding.
pub fn decode_to_vec(text: &[u8]) -> Result<Vec<u8>, InvalidBase64> {
    #[cfg(target_arch = "x86_64")]
    if let Some(decoded) = vbmi::decode_to_vec(text) {
        return decoded;
    }
    B64.decode_to_vec(text).map_err(|_| InvalidBase64)
}

#[cfg(target_arch = "x86_64")]
mod vbmi {
    use std::arch::x86_64::{
        __m512i, _mm512_loadu_si512, _mm512_madd_epi16, _mm512_maddubs_epi16,
        _mm512_mask_storeu_epi8, _mm512_maskz_loadu_epi8, _mm512_movepi8_mask,
        _mm512_multishift_epi64_epi8, _mm512_or_si512, _mm512_permutex2var_epi8,
        _mm512_permutexvar_epi8, _mm512_set1_epi32, _mm512_set1_epi64, _mm512_setzero_si512,
        _mm512_storeu_si512,
    };

    use super::{B64, InvalidBase64};

    /// Bytes in, characters out, per block.
    const BYTES: usize = 48;
    const CHARS: usize = 64;
    const LOW_48: u64 = (1 << BYTES) - 1;

    fn available() -> bool {
        std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512bw")
            && std::is_x86_feature_detected!("avx512vbmi")
    }

    /// Encodes the whole 48-byte blocks of `bytes` into `out` when the CPU can;
    /// returns what is left for the portable encoder.
    pub(super) fn encode_blocks_append<'a>(bytes: &'a [u8], out: &mut String) -> &'a [u8] {
        let blocks = bytes.len() / BYTES;
        if blocks == 0 || !available() {
            return bytes;
        }
        let (head, tail) = bytes.split_at(blocks * BYTES);
        // SAFETY: the CPU has the features (checked above); `encode` writes exactly
        // `blocks * 64` characters into the capacity reserved here, all of them
        // from the base64url alphabet, so the string stays ASCII and so UTF-8.
        unsafe {
            let out = out.as_mut_vec();
            out.reserve(blocks * CHARS + B64.encoded_length(tail.len()));
            let len = out.len();
            encode(head, out.as_mut_ptr().add(len));
            out.set_len(len + blocks * CHARS);
        }
        tail
    }

    /// Decodes `text` when the CPU can and it holds at least one whole 64-character
    /// block; `None` leaves it all to the portable decoder.
    pub(super) fn decode_to_vec(text: &[u8]) -> Option<Result<Vec<u8>, InvalidBase64>> {
        let blocks = text.len() / CHARS;
        if blocks == 0 || !available() {
            return None;
        }
        let (head, tail) = text.split_at(blocks * CHARS);
        let Ok(tail_len) = B64.decoded_length(tail) else {
            return Some(Err(InvalidBase64));
        };
        let mut out = Vec::with_capacity(blocks * BYTES + tail_len);
        // SAFETY: the CPU has the features (checked above); `decode` writes exactly
        // `blocks * 48` bytes into the capacity reserved here.
        let valid = unsafe {
            let valid = decode(head, out.as_mut_ptr());
            out.set_len(blocks * BYTES);
            valid
        };
        if !valid || B64.decode_append(tail, &mut out).is_err() {
            return Some(Err(InvalidBase64));
        }
        Some(Ok(out))
    }

    /// Lane `k` of 32 bits holds input bytes `3k+1, 3k, 3k+2, 3k+1`: the 24 bits of a
    /// group arranged so that one multishift can pick out its four 6-bit values.
    const ENCODE_SPREAD: [u8; 64] = {
        let mut t = [0u8; 64];
        let mut k = 0;
        while k < 16 {
            let b = 3 * k as u8;
            t[4 * k] = b + 1;
            t[4 * k + 1] = b;
            t[4 * k + 2] = b + 2;
            t[4 * k + 3] = b + 1;
            k += 1;
        }
        t
    };

    /// Bit offsets of the four 6-bit values in each spread lane, two lanes per
    /// 64-bit word: 10, 4, 22, 16, then the same plus 32.
    const ENCODE_SHIFTS: i64 = 0x3036_242a_1016_040a;

    const ALPHABET: [u8; 64] = *b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

    /// ASCII character to its 6-bit value; 0x80 marks a character outside the alphabet.
    const DECODE_TABLE: [u8; 128] = {
        let mut t = [0x80u8; 128];
        let mut i = 0;
        while i < 64 {
            t[ALPHABET[i] as usize] = i as u8;
            i += 1;
        }
        t
    };

    /// After merging, lane `k` holds the 24 bits of group `k` with its first byte
    /// highest: output byte `3k + j` is byte `2 - j` of lane `k`.
    const DECODE_PACK: [u8; 64] = {
        let mut t = [0u8; 64];
        let mut p = 0;
        while p < BYTES {
            t[p] = (4 * (p / 3) + 2 - p % 3) as u8;
            p += 1;
        }
        t
    };

    #[target_feature(enable = "avx512f")]
    fn vector(bytes: &[u8; 64]) -> __m512i {
        // SAFETY: an unaligned load of exactly 64 bytes from a 64-byte array.
        unsafe { _mm512_loadu_si512(bytes.as_ptr().cast()) }
    }

    /// Encodes `input` (a whole number of 48-byte blocks) to `input.len() / 48 * 64`
    /// characters at `out`.
    ///
    /// # Safety
    /// The CPU must have AVX-512 F, BW and VBMI, and `out` must be valid for that many
    /// bytes of writes.
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
    unsafe fn encode(input: &[u8], out: *mut u8) {
        let spread = vector(&ENCODE_SPREAD);
        let shifts = _mm512_set1_epi64(ENCODE_SHIFTS);
        let alphabet = vector(&ALPHABET);
        for (i, block) in input.chunks_exact(BYTES).enumerate() {
            // SAFETY: the masked load reads only the block's 48 bytes; the store
            // writes block `i` of the output the caller vouched for.
            unsafe {
                let v = _mm512_maskz_loadu_epi8(LOW_48, block.as_ptr().cast());
                let v = _mm512_permutexvar_epi8(spread, v);
                let v = _mm512_multishift_epi64_epi8(shifts, v);
                let v = _mm512_permutexvar_epi8(v, alphabet);
                _mm512_storeu_si512(out.add(i * CHARS).cast(), v);
            }
        }
    }

    /// Decodes `text` (a whole number of 64-character blocks) to `text.len() / 64 * 48`
    /// bytes at `out`; false if any character is outside the alphabet (the output is
    /// then meaningless).
    ///
    /// # Safety
    /// The CPU must have AVX-512 F, BW and VBMI, and `out` must be valid for that many
    /// bytes of writes.
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
    unsafe fn decode(text: &[u8], out: *mut u8) -> bool {
        let (table_low, table_high) = {
            let (low, high) = DECODE_TABLE.split_at(64);
            (
                vector(low.try_into().expect("64 bytes")),
                vector(high.try_into().expect("64 bytes")),
            )
        };
        // Pairs of 6-bit values into 12 bits, then pairs of those into 24.
        let merge_pairs = _mm512_set1_epi32(0x0140_0140);
        let merge_halves = _mm512_set1_epi32(0x0001_1000);
        let pack = vector(&DECODE_PACK);
        let mut high_bits = _mm512_setzero_si512();
        for (i, block) in text.chunks_exact(CHARS).enumerate() {
            // SAFETY: the load reads the block's 64 bytes; the masked store writes
            // block `i` of the output the caller vouched for.
            unsafe {
                let chars = _mm512_loadu_si512(block.as_ptr().cast());
                let values = _mm512_permutex2var_epi8(table_low, chars, table_high);
                // A non-ASCII character has its own high bit set; any other
                // character outside the alphabet maps to 0x80.
                high_bits = _mm512_or_si512(high_bits, _mm512_or_si512(values, chars));
                let v = _mm512_maddubs_epi16(values, merge_pairs);
                let v = _mm512_madd_epi16(v, merge_halves);
                let v = _mm512_permutexvar_epi8(pack, v);
                _mm512_mask_storeu_epi8(out.add(i * BYTES).cast(), LOW_48, v);
            }
        }
        _mm512_movepi8_mask(high_bits) == 0
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn the_fast_path_is_taken_where_the_cpu_has_it() {
            // Reported so that a run on a machine without VBMI says so.
            eprintln!("AVX-512 VBMI base64: {}", available());
            if available() {
                assert!(decode_to_vec(&[b'A'; 64]).is_some());
                let mut out = String::new();
                assert!(encode_blocks_append(&[0; 48], &mut out).is_empty());
                assert_eq!(out, "A".repeat(64));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, RngCore, SeedableRng};

    use super::*;

    fn reference_encode(bytes: &[u8]) -> String {
        B64.encode_to_string(bytes)
    }

    #[test]
    fn encodes_and_decodes_like_base64_simd_at_every_length() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for len in (0..=400).chain([16 * 1024, 16 * 1024 + 1, 16 * 1024 + 2]) {
            let mut bytes = vec![0u8; len];
            rng.fill_bytes(&mut bytes);
            let mut text = String::from("prefix.");
            encode_append(&bytes, &mut text);
            let text = &text["prefix.".len()..];
            assert_eq!(text, reference_encode(&bytes), "encoding {len} bytes");
            assert_eq!(
                decode_to_vec(text.as_bytes()).unwrap(),
                bytes,
                "decoding {len} bytes"
            );
        }
    }

    #[test]
    fn every_value_of_every_position_round_trips() {
        // 256 blocks of 48 bytes where byte `i` of block `b` is `b + i`: every byte
        // value at every position of a block.
        let bytes: Vec<u8> = (0..256 * 48).map(|n| (n / 48 + n % 48) as u8).collect();
        let mut text = String::new();
        encode_append(&bytes, &mut text);
        assert_eq!(text, reference_encode(&bytes));
        assert_eq!(decode_to_vec(text.as_bytes()).unwrap(), bytes);
    }

    #[test]
    fn rejects_what_base64_simd_rejects_wherever_it_is() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let mut bytes = vec![0u8; 200];
        rng.fill_bytes(&mut bytes);
        let good = reference_encode(&bytes);
        let bad_chars: [&str; 9] = ["+", "/", "=", ".", " ", "\n", "\0", "é", "\u{7f}"];
        for position in 0..good.len() {
            for bad in bad_chars {
                let mut text = good.clone();
                text.replace_range(position..position + 1, bad);
                let ours = decode_to_vec(text.as_bytes());
                let reference = B64
                    .decode_to_vec(text.as_bytes())
                    .map_err(|_| InvalidBase64);
                assert_eq!(ours, reference, "{bad:?} at {position}");
                assert!(ours.is_err(), "{bad:?} at {position} was accepted");
            }
        }
    }

    #[test]
    fn agrees_with_base64_simd_on_random_texts() {
        // Mostly-valid texts of every length mod 4 (with a stray character now and
        // then, and non-canonical last characters), so both acceptance and rejection
        // are compared.
        let mut rng = rand::rngs::StdRng::seed_from_u64(13);
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        for _ in 0..3000 {
            let len = rng.random_range(0..300);
            let mut text: Vec<u8> = (0..len)
                .map(|_| alphabet[rng.random_range(0..64)])
                .collect();
            if len > 0 && rng.random_bool(0.2) {
                let at = rng.random_range(0..len);
                text[at] = rng.random_range(0..128);
            }
            let ours = decode_to_vec(&text);
            let reference = B64.decode_to_vec(&text).map_err(|_| InvalidBase64);
            assert_eq!(ours, reference, "{:?}", String::from_utf8_lossy(&text));
        }
    }
}
