/* virtio-rng: the entropy device on the first virtio-mmio transport that holds one (device id 4,
 * version 2; on rrvm the first free slot, slot 0 when there is no disk).
 * - the same transport handshake as virtio-blk (VIRTIO_F_VERSION_1, queue 0, DRIVER_OK);
 * - 64 bytes are read through device-writable buffers (the device may fill fewer bytes per request:
 *   requests repeat until 64 have arrived), each completion signalled by a used-buffer interrupt
 *   through the PLIC; used lengths are never more than the buffer offered;
 * - the 64 bytes are not all equal, and a second 64 bytes differ from the first. */
#include "virtio.h"

#define WANT 64

static u8 chunk[WANT] __attribute__((aligned(16)));

static void read_entropy(struct virtio_device *d, u8 *out) {
  u32 have = 0;
  for (int requests = 0; have < WANT; requests++) {
    if (requests > 64) harness_error("virtio-rng returned fewer than 64 bytes in 64 requests");
    u32 want = WANT - have;
    memset(chunk, 0, sizeof chunk);
    d->desc[0] = (struct virtq_desc){(u64)chunk, want, DESC_F_WRITE, 0};
    struct virtq_used_elem e = virtio_submit(d, 0);
    CHECK(e.len <= want, "the device wrote no more than the buffer");
    memcpy(out + have, chunk, e.len);
    have += e.len;
  }
}

void test_main(void) {
  int slot = virtio_find(4, "virtio-rng");
  struct virtio_device rng;
  virtio_init(&rng, slot);
  u8 first[WANT], second[WANT];
  read_entropy(&rng, first);
  read_entropy(&rng, second);
  int all_equal = 1;
  for (int i = 1; i < WANT; i++)
    if (first[i] != first[0]) all_equal = 0;
  CHECK(!all_equal, "the 64 random bytes are not all equal");
  CHECK(memcmp(first, second, WANT) != 0, "two reads of 64 bytes differ");
  CHECK_EQ(virtio_other_claims, 0, "no other source interrupted");
  gprintf("virtio-rng: transport %d, 2 x %d bytes in %lu interrupts, first bytes %02x %02x %02x %02x\n", slot,
          WANT, virtio_interrupts, first[0], first[1], first[2], first[3]);
  virtio_reset(&rng);
}
