//! G.711 µ-law companding (ITU-T G.711, the "µ-255" law Twilio Media Streams speak).
//!
//! Code points are stored inverted (all bits flipped) and magnitudes carry a bias of 0x84 so that
//! every segment boundary is a power of two; that is what makes both directions a shift and a
//! table lookup. Values are on the usual 16-bit scale: full scale is ±32124, and 0xFF / 0x7F are
//! positive / negative zero.

/// The µ-law code for silence (positive zero). Twilio and OpenAI both use it for padding.
pub const SILENCE: u8 = 0xFF;

/// Added to magnitudes before segmenting so that segment `e` starts at `2^(e+7)`.
const BIAS: u16 = 0x84;

/// Largest magnitude that still fits the top segment after biasing (32635 + 0x84 = 0x7FFF).
const CLIP: u16 = 32635;

/// Linear value of every code point, built at compile time from the standard's formula.
static DECODE: [i16; 256] = build_decode_table();

/// Segment (exponent) of a biased magnitude, indexed by `magnitude >> 7`: the position of its
/// highest set bit. A table beats a loop over segment ends and matches the reference encoders.
static SEGMENT: [u8; 256] = build_segment_table();

const fn build_decode_table() -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut code = 0;
    while code < 256 {
        let inverted = !(code as u8);
        let segment = (inverted >> 4) & 0x07;
        let mantissa = (inverted & 0x0F) as i16;
        // Reconstruct at the middle of the quantisation interval: (m·8 + bias)·2^e − bias.
        let magnitude = (((mantissa << 3) + BIAS as i16) << segment) - BIAS as i16;
        table[code] = if inverted & 0x80 != 0 {
            -magnitude
        } else {
            magnitude
        };
        code += 1;
    }
    table
}

const fn build_segment_table() -> [u8; 256] {
    let mut table = [0u8; 256];
    let mut index = 1;
    while index < 256 {
        table[index] = 7 - (index as u8).leading_zeros() as u8;
        index += 1;
    }
    table
}

/// Expands one µ-law code point to linear PCM16.
#[inline]
pub fn decode(code: u8) -> i16 {
    DECODE[usize::from(code)]
}

/// Compresses one PCM16 sample to µ-law. Magnitudes above 32635 clip to full scale.
#[inline]
pub fn encode(sample: i16) -> u8 {
    let sign: u8 = if sample < 0 { 0x80 } else { 0x00 };
    // `unsigned_abs` keeps i16::MIN (32768) representable before clipping.
    let magnitude = sample.unsigned_abs().min(CLIP) + BIAS;
    let segment = SEGMENT[usize::from(magnitude >> 7)];
    let mantissa = ((magnitude >> (segment + 3)) & 0x0F) as u8;
    !(sign | (segment << 4) | mantissa)
}

/// Appends the linear expansion of `mulaw` to `out`. Reuse `out` across frames to avoid allocating.
pub fn decode_into(mulaw: &[u8], out: &mut Vec<i16>) {
    out.extend(mulaw.iter().map(|&code| decode(code)));
}

/// Appends the µ-law compression of `pcm` to `out`. Reuse `out` across frames to avoid allocating.
pub fn encode_into(pcm: &[i16], out: &mut Vec<u8>) {
    out.extend(pcm.iter().map(|&sample| encode(sample)));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Segment (exponent) field of a code point, after undoing the inversion.
    fn segment_of(code: u8) -> u32 {
        u32::from((!code >> 4) & 0x07)
    }

    #[test]
    fn decodes_the_standard_code_points() {
        let expected: &[(u8, i16)] = &[
            (0xFF, 0),      // positive zero
            (0x7F, 0),      // negative zero
            (0x80, 32124),  // positive full scale
            (0x00, -32124), // negative full scale
            (0x01, -31100),
            (0x81, 31100),
            (0xFE, 8), // smallest step: segment 0 is 8 wide
            (0x7E, -8),
            (0xF0, 120), // top of segment 0
            (0xEF, 132), // bottom of segment 1 (the bias)
            (0xDF, 396), // bottom of segment 2
            (0x8F, 16764),
            (0x0F, -16764),
        ];
        for &(code, linear) in expected {
            assert_eq!(decode(code), linear, "code {code:#04x}");
        }
    }

    #[test]
    fn encodes_the_standard_code_points() {
        assert_eq!(encode(0), 0xFF);
        assert_eq!(encode(-1), 0x7F);
        assert_eq!(encode(32124), 0x80);
        assert_eq!(encode(i16::MAX), 0x80);
        assert_eq!(encode(-32124), 0x00);
        assert_eq!(encode(i16::MIN), 0x00);
        assert_eq!(encode(8), 0xFE);
        assert_eq!(encode(132), 0xEF);
        assert_eq!(encode(-132), 0x6F);
    }

    #[test]
    fn every_code_point_but_negative_zero_round_trips() {
        for code in 0..=255u8 {
            let again = encode(decode(code));
            if code == 0x7F {
                // Negative zero decodes to 0, which encodes as positive zero.
                assert_eq!(again, 0xFF);
            } else {
                assert_eq!(again, code, "code {code:#04x}");
            }
        }
    }

    #[test]
    fn decode_is_odd_symmetric() {
        for code in 0..=0x7Fu8 {
            assert_eq!(decode(code), -decode(code | 0x80), "code {code:#04x}");
        }
    }

    #[test]
    fn every_sample_is_within_its_segments_quantisation_error() {
        for sample in i16::MIN..=i16::MAX {
            let code = encode(sample);
            let error = (i32::from(decode(code)) - i32::from(sample)).abs();
            let clipped = i32::from(sample).abs() > 32124 + (1 << 9);
            if clipped {
                // Beyond the top segment the error is just the overload distance.
                assert!(error <= 32768 - 32124, "sample {sample}: error {error}");
            } else {
                // Segment e has steps of 2^(e+3); the decoder sits mid-step.
                let half_step = 1 << (segment_of(code) + 2);
                assert!(
                    error <= half_step,
                    "sample {sample}: error {error} > {half_step}"
                );
            }
        }
    }

    #[test]
    fn expansion_of_the_compression_is_monotonic() {
        let mut previous = i16::MIN;
        for sample in i16::MIN..=i16::MAX {
            let restored = decode(encode(sample));
            assert!(restored >= previous, "not monotonic at {sample}");
            previous = restored;
        }
    }

    #[test]
    fn bulk_helpers_append_without_clearing() {
        let mut pcm = vec![1234];
        decode_into(&[0xFF, 0x80, 0x00], &mut pcm);
        assert_eq!(pcm, [1234, 0, 32124, -32124]);

        let mut codes = vec![0xAA];
        encode_into(&[0, 32124, -32124], &mut codes);
        assert_eq!(codes, [0xAA, 0xFF, 0x80, 0x00]);
    }
}
