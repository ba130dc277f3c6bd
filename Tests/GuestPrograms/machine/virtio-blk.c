/* virtio-blk: the disk on the first virtio-mmio transport (0x1000_1000, PLIC source 1), version 2.
 * Run with a scratch disk of 1 MiB or more (its contents are overwritten from sector 7 on).
 * - the transport: magic, version 2, device id 2; reset, ACKNOWLEDGE/DRIVER, VIRTIO_F_VERSION_1,
 *   FEATURES_OK, queue 0 set up and ready, DRIVER_OK with no DEVICE_NEEDS_RESET;
 * - capacity (config space) of at least 2048 sectors;
 * - a one-sector write then read back of sector 7 (header, data, status descriptors; each request
 *   completes with a used-buffer interrupt routed through the PLIC, claimed, acknowledged, completed);
 * - a two-sector write from data split across two descriptors, read back whole;
 * - sector 7 still holds its data after the neighbouring write; a second pattern overwrites it;
 * - a read at sector = capacity fails with status IOERR and leaves the device healthy;
 * - the used lengths: a read reports at least the data plus the status byte;
 * - after a reset the status reads 0 and the queue is not ready. */
#include "virtio.h"

#define BLK_T_IN 0
#define BLK_T_OUT 1
#define BLK_S_OK 0
#define BLK_S_IOERR 1
#define SECTOR 512

struct blk_header { u32 type, reserved; u64 sector; };

static struct blk_header header __attribute__((aligned(16)));
static u8 data_out[2 * SECTOR] __attribute__((aligned(16)));
static u8 data_in[2 * SECTOR] __attribute__((aligned(16)));
static volatile u8 status_byte __attribute__((aligned(16)));

static void pattern(u8 *p, u64 n, u64 seed) {
  for (u64 i = 0; i < n; i++) p[i] = (u8)((i * 31 + seed * 17 + (i >> 8)) ^ seed);
}

/* One request: header, data in one or two descriptors (split at `split`, 0 = one), status. */
static struct virtq_used_elem request(struct virtio_device *d, u32 type, u64 sector, u8 *data, u32 len, u32 split) {
  header.type = type;
  header.reserved = 0;
  header.sector = sector;
  status_byte = 0xff;
  u16 flags = type == BLK_T_IN ? DESC_F_WRITE : 0;
  u16 n = 0;
  d->desc[n] = (struct virtq_desc){(u64)&header, sizeof header, DESC_F_NEXT, 1};
  n++;
  if (split) {
    d->desc[n] = (struct virtq_desc){(u64)data, split, (u16)(flags | DESC_F_NEXT), (u16)(n + 1)};
    n++;
    d->desc[n] = (struct virtq_desc){(u64)data + split, len - split, (u16)(flags | DESC_F_NEXT), (u16)(n + 1)};
    n++;
  } else {
    d->desc[n] = (struct virtq_desc){(u64)data, len, (u16)(flags | DESC_F_NEXT), (u16)(n + 1)};
    n++;
  }
  d->desc[n] = (struct virtq_desc){(u64)&status_byte, 1, DESC_F_WRITE, 0};
  return virtio_submit(d, 0);
}

void test_main(void) {
  u32 version = 0;
  int id = virtio_probe(0, &version);
  if (id != 2) {
    char text[128];
    gsprintf(text, sizeof text, "no virtio-blk on the first transport (found id %d; QEMU: -device "
             "virtio-blk-device,bus=virtio-mmio-bus.0)", id);
    harness_error(text);
  }
  int slot = virtio_find(2, "virtio-blk");
  CHECK_EQ(slot, 0, "virtio-blk is on the first transport");
  struct virtio_device disk;
  virtio_init(&disk, slot);
  u64 capacity = vreg(&disk, VIRTIO_CONFIG) | (u64)vreg(&disk, VIRTIO_CONFIG + 4) << 32;
  CHECK(capacity >= 2048, "the disk holds at least 1 MiB");
  gprintf("virtio-blk: transport %d, capacity %lu sectors\n", slot, capacity);

  pattern(data_out, SECTOR, 1);
  request(&disk, BLK_T_OUT, 7, data_out, SECTOR, 0);
  CHECK_EQ(status_byte, BLK_S_OK, "write of sector 7: status OK");
  memset(data_in, 0, sizeof data_in);
  struct virtq_used_elem e = request(&disk, BLK_T_IN, 7, data_in, SECTOR, 0);
  CHECK_EQ(status_byte, BLK_S_OK, "read of sector 7: status OK");
  CHECK(e.len >= SECTOR + 1, "the read's used length covers the data and the status");
  CHECK(!memcmp(data_in, data_out, SECTOR), "sector 7 reads back what was written");

  pattern(data_out, 2 * SECTOR, 2);
  request(&disk, BLK_T_OUT, 8, data_out, 2 * SECTOR, 200);
  CHECK_EQ(status_byte, BLK_S_OK, "two-sector write from two descriptors: status OK");
  memset(data_in, 0, sizeof data_in);
  request(&disk, BLK_T_IN, 8, data_in, 2 * SECTOR, 0);
  CHECK_EQ(status_byte, BLK_S_OK, "two-sector read: status OK");
  CHECK(!memcmp(data_in, data_out, 2 * SECTOR), "sectors 8-9 read back what was written");

  u8 first[SECTOR];
  pattern(first, SECTOR, 1);
  memset(data_in, 0, sizeof data_in);
  request(&disk, BLK_T_IN, 7, data_in, SECTOR, 300);
  CHECK(!memcmp(data_in, first, SECTOR), "sector 7 kept its data (read into two descriptors)");
  pattern(data_out, SECTOR, 3);
  request(&disk, BLK_T_OUT, 7, data_out, SECTOR, 0);
  request(&disk, BLK_T_IN, 7, data_in, SECTOR, 0);
  CHECK(!memcmp(data_in, data_out, SECTOR), "sector 7 rewritten with a second pattern");

  memset(data_in, 0xee, SECTOR);
  request(&disk, BLK_T_IN, capacity, data_in, SECTOR, 0);
  CHECK_EQ(status_byte, BLK_S_IOERR, "a read past the end fails with IOERR");
  CHECK_EQ(vreg(&disk, VIRTIO_STATUS) & STATUS_DEVICE_NEEDS_RESET, 0, "a failed request needs no reset");
  CHECK_EQ(virtio_other_claims, 0, "no other source interrupted");
  gprintf("virtio-blk: %lu interrupts\n", virtio_interrupts);
  virtio_reset(&disk);
}
