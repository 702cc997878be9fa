package topk.udfs;

/**
 * MurmurHash3 x64_128 (Austin Appleby's reference, public domain), as Python's {@code mmh3.hash128}
 * and {@code mmh3.hash_bytes} compute it: the seed fills both 64-bit halves as an unsigned 32-bit value.
 */
final class MurmurHash3 {
    private static final long C1 = 0x87c37b91114253d5L;
    private static final long C2 = 0x4cf5ad432745937fL;

    private MurmurHash3() {}

    /** {h1, h2}: the digest's two little-endian 64-bit halves. */
    static long[] hash128(byte[] data, int seed) {
        long h1 = seed & 0xffffffffL;
        long h2 = h1;
        int blocks = data.length / 16;
        for (int i = 0; i < blocks; i++) {
            long k1 = getLong(data, i * 16);
            long k2 = getLong(data, i * 16 + 8);
            h1 ^= mixK1(k1);
            h1 = Long.rotateLeft(h1, 27) + h2;
            h1 = h1 * 5 + 0x52dce729;
            h2 ^= mixK2(k2);
            h2 = Long.rotateLeft(h2, 31) + h1;
            h2 = h2 * 5 + 0x38495ab5;
        }
        int tail = blocks * 16;
        int rest = data.length & 15;
        long k1 = 0;
        long k2 = 0;
        for (int i = rest - 1; i >= 8; i--) {
            k2 ^= (data[tail + i] & 0xffL) << ((i - 8) * 8);
        }
        for (int i = Math.min(rest, 8) - 1; i >= 0; i--) {
            k1 ^= (data[tail + i] & 0xffL) << (i * 8);
        }
        if (rest > 8) {
            h2 ^= mixK2(k2);
        }
        if (rest > 0) {
            h1 ^= mixK1(k1);
        }
        h1 ^= data.length;
        h2 ^= data.length;
        h1 += h2;
        h2 += h1;
        h1 = fmix(h1);
        h2 = fmix(h2);
        h1 += h2;
        h2 += h1;
        return new long[] {h1, h2};
    }

    private static long mixK1(long k1) {
        return Long.rotateLeft(k1 * C1, 31) * C2;
    }

    private static long mixK2(long k2) {
        return Long.rotateLeft(k2 * C2, 33) * C1;
    }

    private static long fmix(long k) {
        k ^= k >>> 33;
        k *= 0xff51afd7ed558ccdL;
        k ^= k >>> 33;
        k *= 0xc4ceb9fe1a85ec53L;
        return k ^ (k >>> 33);
    }

    private static long getLong(byte[] b, int i) {
        long v = 0;
        for (int j = 7; j >= 0; j--) {
            v = (v << 8) | (b[i + j] & 0xffL);
        }
        return v;
    }
}
