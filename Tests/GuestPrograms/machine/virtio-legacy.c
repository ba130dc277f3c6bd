/* virtio-legacy: the disk on the first virtio-mmio transport (version 2), driven as a driver of the low
 * 32 feature bits only drives it (xv6 and other teaching kernels): it never selects the second feature
 * word, so it never accepts VIRTIO_F_VERSION_1. QEMU 7.2 accepts FEATURES_OK so; so must rrvm. Then a
 * one-sector write and read back of sector 7 (run with a scratch disk of 1 MiB or more). */
#include "virtio.h"

struct blk_header { u32 type, reserved; u64 sector; };

static struct blk_header header __attribute__((aligned(16)));
static u8 data_out[512] __attribute__((aligned(16)));
static u8 data_in[512] __attribute__((aligned(16)));
static volatile u8 status_byte __attribute__((aligned(16)));

static void request(struct virtio_device *d, u32 type, u8 *data) {
  header = (struct blk_header){type, 0, 7};
  status_byte = 0xff;
  d->desc[0] = (struct virtq_desc){(u64)&header, sizeof header, DESC_F_NEXT, 1};
  d->desc[1] = (struct virtq_desc){(u64)data, 512, (u16)((type == 0 ? DESC_F_WRITE : 0) | DESC_F_NEXT), 2};
  d->desc[2] = (struct virtq_desc){(u64)&status_byte, 1, DESC_F_WRITE, 0};
  virtio_submit(d, 0);
}

void test_main(void) {
  struct virtio_device disk;
  virtio_init_features(&disk, virtio_find(2, "virtio-blk"), 0);
  for (int i = 0; i < 512; i++) data_out[i] = (u8)(i * 13 + 5);
  request(&disk, 1, data_out);
  CHECK_EQ(status_byte, 0, "write of sector 7 without VERSION_1: status OK");
  request(&disk, 0, data_in);
  CHECK_EQ(status_byte, 0, "read of sector 7 without VERSION_1: status OK");
  CHECK(!memcmp(data_in, data_out, 512), "sector 7 reads back what was written");
  virtio_reset(&disk);
}
