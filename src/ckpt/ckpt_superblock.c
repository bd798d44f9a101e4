/* Repairs the superblock checksum of an HDF5 file image. HDF5 1.10's H5Fget_file_image clears the
 * "open for writing" status flags of a version 2/3 superblock in the copy it hands back but leaves the
 * checksum computed with them set, so the image, written to disk, fails to open ("incorrect metadata
 * checksum"). The checksum is Bob Jenkins' lookup3 hashlittle() with initval 0, as in HDF5's
 * H5_checksum_lookup3, over every superblock byte before it. */
#include "ckpt_internal.h"

#include <string.h>

#define ROT(x, k) (((x) << (k)) | ((x) >> (32 - (k))))

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint32_t lookup3(const unsigned char *k, size_t length)
{
    uint32_t a, b, c;
    a = b = c = 0xdeadbeefu + (uint32_t)length;
    while (length > 12) {
        a += get32(k);
        b += get32(k + 4);
        c += get32(k + 8);
        a -= c; a ^= ROT(c, 4);  c += b;
        b -= a; b ^= ROT(a, 6);  a += c;
        c -= b; c ^= ROT(b, 8);  b += a;
        a -= c; a ^= ROT(c, 16); c += b;
        b -= a; b ^= ROT(a, 19); a += c;
        c -= b; c ^= ROT(b, 4);  b += a;
        length -= 12;
        k += 12;
    }
    if (length == 0) return c;
    unsigned char tail[12] = {0};
    memcpy(tail, k, length);
    a += get32(tail);
    b += get32(tail + 4);
    c += get32(tail + 8);
    c ^= b; c -= ROT(b, 14);
    a ^= c; a -= ROT(c, 11);
    b ^= a; b -= ROT(a, 25);
    c ^= b; c -= ROT(b, 16);
    a ^= c; a -= ROT(c, 4);
    b ^= a; b -= ROT(a, 14);
    c ^= b; c -= ROT(b, 24);
    return c;
}

int ck_fix_superblock_checksum(unsigned char *image, size_t size)
{
    static const unsigned char signature[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    if (size < 12 || memcmp(image, signature, 8) != 0) return -1;
    if (image[8] != 2 && image[8] != 3) return 0; /* versions 0 and 1 carry no checksum */
    /* signature, version, sizes of offsets and lengths, flags, then four addresses, then the checksum */
    size_t body = 12 + 4 * (size_t)image[9];
    if (image[9] == 0 || size < body + 4) return -1;
    uint32_t sum = lookup3(image, body);
    for (int i = 0; i < 4; i++) image[body + i] = (unsigned char)(sum >> (8 * i));
    return 0;
}
