/* A minimal virtio-mmio (version 2) driver for the virtio programs: probing transports, feature
 * negotiation, one split virtqueue, and waiting for a used buffer through the PLIC interrupt. */
#ifndef VIRTIO_H
#define VIRTIO_H
#include "machine.h"

#define VIRTIO_MAGIC_VALUE 0x000
#define VIRTIO_VERSION 0x004
#define VIRTIO_DEVICE_ID 0x008
#define VIRTIO_VENDOR_ID 0x00c
#define VIRTIO_DEVICE_FEATURES 0x010
#define VIRTIO_DEVICE_FEATURES_SEL 0x014
#define VIRTIO_DRIVER_FEATURES 0x020
#define VIRTIO_DRIVER_FEATURES_SEL 0x024
#define VIRTIO_QUEUE_SEL 0x030
#define VIRTIO_QUEUE_NUM_MAX 0x034
#define VIRTIO_QUEUE_NUM 0x038
#define VIRTIO_QUEUE_READY 0x044
#define VIRTIO_QUEUE_NOTIFY 0x050
#define VIRTIO_INTERRUPT_STATUS 0x060
#define VIRTIO_INTERRUPT_ACK 0x064
#define VIRTIO_STATUS 0x070
#define VIRTIO_QUEUE_DESC_LOW 0x080
#define VIRTIO_QUEUE_DESC_HIGH 0x084
#define VIRTIO_QUEUE_DRIVER_LOW 0x090
#define VIRTIO_QUEUE_DRIVER_HIGH 0x094
#define VIRTIO_QUEUE_DEVICE_LOW 0x0a0
#define VIRTIO_QUEUE_DEVICE_HIGH 0x0a4
#define VIRTIO_CONFIG 0x100

#define STATUS_ACKNOWLEDGE 1
#define STATUS_DRIVER 2
#define STATUS_DRIVER_OK 4
#define STATUS_FEATURES_OK 8
#define STATUS_DEVICE_NEEDS_RESET 64
#define STATUS_FAILED 128

#define DESC_F_NEXT 1
#define DESC_F_WRITE 2
#define QUEUE_SIZE 8

struct virtq_desc { u64 addr; u32 len; u16 flags, next; };
struct virtq_avail { u16 flags, idx, ring[QUEUE_SIZE], used_event; };
struct virtq_used_elem { u32 id, len; };
struct virtq_used { u16 flags, idx; struct virtq_used_elem ring[QUEUE_SIZE]; u16 avail_event; };

struct virtio_device {
  int slot;
  u64 base;
  u32 irq;
  struct virtq_desc *desc;
  struct virtq_avail *avail;
  volatile struct virtq_used *used;
  u16 used_seen;
};

static u8 queue_memory[3][4096] __attribute__((aligned(4096)));

static inline u32 vreg(struct virtio_device *d, u64 off) { return mmio_read32(d->base + off); }
static inline void vwrite(struct virtio_device *d, u64 off, u32 v) { mmio_write32(d->base + off, v); }

/* The device id at a transport, 0 for none; -1 when the window is not there at all (rrvm maps only
 * the transports in use; reading an unmapped one raises an access fault, which is expected here). */
static int virtio_probe(int slot, u32 *version) {
  struct trap_record *t = expect_trap();
  u32 magic = mmio_read32(VIRTIO_BASE(slot) + VIRTIO_MAGIC_VALUE);
  u32 v = mmio_read32(VIRTIO_BASE(slot) + VIRTIO_VERSION);
  u32 id = mmio_read32(VIRTIO_BASE(slot) + VIRTIO_DEVICE_ID);
  trap_result();
  if (t->count) return -1;
  if (magic != 0x74726976) return -1;
  *version = v;
  return (int)id;
}

/* The first transport holding device `id` (virtio-blk 2, virtio-rng 4); exits 255 if none. */
static int virtio_find(u32 id, const char *name) {
  for (int slot = 0; slot < VIRTIO_SLOTS; slot++) {
    u32 version = 0;
    int found = virtio_probe(slot, &version);
    if (found != (int)id) continue;
    if (version != 2) {
      char text[160];
      gsprintf(text, sizeof text, "%s at transport %d is virtio-mmio version %u, not 2 (QEMU: add -global "
               "virtio-mmio.force-legacy=false)", name, slot, version);
      harness_error(text);
    }
    return slot;
  }
  char text[96];
  gsprintf(text, sizeof text, "no %s device on any virtio-mmio transport", name);
  harness_error(text);
}

/* Resets the device and negotiates features, checking the status handshake: VIRTIO_F_VERSION_1 only,
 * or (version1 = 0) as a driver of the low 32 feature bits does (xv6): it reads and writes only the
 * first feature word, never selecting the second, and so never accepts VERSION_1. */
static void virtio_init_features(struct virtio_device *d, int slot, int version1) {
  d->slot = slot;
  d->base = VIRTIO_BASE(slot);
  d->irq = VIRTIO_IRQ(slot);
  vwrite(d, VIRTIO_STATUS, 0);
  CHECK_EQ(vreg(d, VIRTIO_STATUS), 0, "status reads 0 after reset");
  vwrite(d, VIRTIO_STATUS, STATUS_ACKNOWLEDGE);
  vwrite(d, VIRTIO_STATUS, STATUS_ACKNOWLEDGE | STATUS_DRIVER);
  if (version1) {
    vwrite(d, VIRTIO_DEVICE_FEATURES_SEL, 1);
    u32 high = vreg(d, VIRTIO_DEVICE_FEATURES);
    CHECK(high & 1, "the device offers VIRTIO_F_VERSION_1 (feature 32)");
    vwrite(d, VIRTIO_DRIVER_FEATURES_SEL, 0);
    vwrite(d, VIRTIO_DRIVER_FEATURES, 0);
    vwrite(d, VIRTIO_DRIVER_FEATURES_SEL, 1);
    vwrite(d, VIRTIO_DRIVER_FEATURES, 1);
  } else {
    /* xv6's choice: everything offered in the low word except read-only, SCSI, write-cache config,
     * multi-queue, any-layout, event index and indirect descriptors (bits 5, 7, 11, 12, 27, 29, 28). */
    u32 low = vreg(d, VIRTIO_DEVICE_FEATURES);
    low &= ~((1u << 5) | (1u << 7) | (1u << 11) | (1u << 12) | (1u << 27) | (1u << 29) | (1u << 28));
    vwrite(d, VIRTIO_DRIVER_FEATURES, low);
  }
  vwrite(d, VIRTIO_STATUS, STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK);
  CHECK(vreg(d, VIRTIO_STATUS) & STATUS_FEATURES_OK, "the device accepts the features (FEATURES_OK stays)");

  vwrite(d, VIRTIO_QUEUE_SEL, 0);
  CHECK_EQ(vreg(d, VIRTIO_QUEUE_READY), 0, "queue 0 is not ready after reset");
  CHECK(vreg(d, VIRTIO_QUEUE_NUM_MAX) >= QUEUE_SIZE, "queue 0 holds at least 8 descriptors");
  memset(queue_memory, 0, sizeof queue_memory);
  d->desc = (struct virtq_desc *)queue_memory[0];
  d->avail = (struct virtq_avail *)queue_memory[1];
  d->used = (volatile struct virtq_used *)queue_memory[2];
  d->used_seen = 0;
  vwrite(d, VIRTIO_QUEUE_NUM, QUEUE_SIZE);
  vwrite(d, VIRTIO_QUEUE_DESC_LOW, (u32)(u64)d->desc);
  vwrite(d, VIRTIO_QUEUE_DESC_HIGH, (u32)((u64)d->desc >> 32));
  vwrite(d, VIRTIO_QUEUE_DRIVER_LOW, (u32)(u64)d->avail);
  vwrite(d, VIRTIO_QUEUE_DRIVER_HIGH, (u32)((u64)d->avail >> 32));
  vwrite(d, VIRTIO_QUEUE_DEVICE_LOW, (u32)(u64)d->used);
  vwrite(d, VIRTIO_QUEUE_DEVICE_HIGH, (u32)((u64)d->used >> 32));
  vwrite(d, VIRTIO_QUEUE_READY, 1);
  CHECK_EQ(vreg(d, VIRTIO_QUEUE_READY), 1, "queue 0 ready");
  vwrite(d, VIRTIO_STATUS, STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK | STATUS_DRIVER_OK);
  CHECK_EQ(vreg(d, VIRTIO_STATUS) & (STATUS_DEVICE_NEEDS_RESET | STATUS_FAILED), 0, "device status is healthy");
  plic_route_to_hart0(d->irq);
}

static inline void virtio_init(struct virtio_device *d, int slot) { virtio_init_features(d, slot, 1); }

static volatile u64 virtio_interrupts, virtio_used_flag, virtio_other_claims;
static struct virtio_device *virtio_active;

static void virtio_on_interrupt(u64 cause, struct trap_frame *f) {
  (void)f;
  if (cause == IRQ_M_TIMER) {
    disarm_timer();
    virtio_used_flag = 1; /* the timeout: the caller sees that nothing was used */
    return;
  }
  u32 source = plic_claim(PLIC_CONTEXT_M(0));
  if (source == 0) return;
  if (source != virtio_active->irq) {
    virtio_other_claims++;
  } else {
    virtio_interrupts++;
    u32 status = vreg(virtio_active, VIRTIO_INTERRUPT_STATUS);
    vwrite(virtio_active, VIRTIO_INTERRUPT_ACK, status);
    if (status & 1) virtio_used_flag = 1;
  }
  plic_complete(PLIC_CONTEXT_M(0), source);
}

/* Offers the chain starting at descriptor `head`, notifies, sleeps until the used-buffer interrupt
 * (or 5 s of mtime) and returns the used element, checking that it names the chain. */
static struct virtq_used_elem virtio_submit(struct virtio_device *d, u16 head) {
  d->avail->ring[d->avail->idx % QUEUE_SIZE] = head;
  fence();
  d->avail->idx++;
  fence();
  virtio_active = d;
  virtio_used_flag = 0;
  m_irq_hook = virtio_on_interrupt;
  arm_timer(SECONDS(5));
  csr_write(mie, MIP_MEIP | MIP_MTIP);
  vwrite(d, VIRTIO_QUEUE_NOTIFY, 0);
  wfi_until(&virtio_used_flag);
  csr_write(mie, 0);
  disarm_timer();
  fence();
  struct virtq_used_elem e = {0xffffffff, 0};
  if (d->used->idx == d->used_seen) harness_error("the device did not use the buffer within 5 s");
  CHECK_EQ(d->used->idx, (u16)(d->used_seen + 1), "the device used exactly one buffer");
  e.id = d->used->ring[d->used_seen % QUEUE_SIZE].id;
  e.len = d->used->ring[d->used_seen % QUEUE_SIZE].len;
  d->used_seen++;
  CHECK_EQ(e.id, head, "the used element names the chain's head");
  CHECK_EQ(vreg(d, VIRTIO_INTERRUPT_STATUS) & 1, 0, "the interrupt status is clear after the ack");
  return e;
}

static void virtio_reset(struct virtio_device *d) {
  vwrite(d, VIRTIO_STATUS, 0);
  CHECK_EQ(vreg(d, VIRTIO_STATUS), 0, "status reads 0 after the final reset");
  vwrite(d, VIRTIO_QUEUE_SEL, 0);
  CHECK_EQ(vreg(d, VIRTIO_QUEUE_READY), 0, "the reset made queue 0 not ready");
}

#endif
