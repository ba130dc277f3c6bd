/* virtio-net: the network card on the first virtio-mmio transport that holds one (device id 1),
 * with user-mode networking behind it (rrctl --net user, QEMU -netdev user).
 * - it offers VERSION_1, MAC and STATUS; its configuration holds QEMU's default address
 *   52:54:00:12:34:56 and says the link is up;
 * - a receive queue (0) and a transmit queue (1) of 8 descriptors each;
 * - a DHCP DISCOVER sent through the transmit queue (12-byte header, then the frame) is answered by a
 *   DHCP OFFER in the posted receive buffer: 10.0.2.15 for the guest, from the server 10.0.2.2, with the
 *   transaction id of the request; completions are signalled by used-buffer interrupts through the PLIC. */
/* Only virtio.h's probing is used here: the card needs two queues, which its one-queue driver does not set up. */
#pragma GCC diagnostic ignored "-Wunused-function"
#include "virtio.h"

#define NET_QUEUES 2
#define RX 0
#define TX 1
#define HEADER 12
#define XID 0x52525653u

static u8 net_rings[NET_QUEUES][3][4096] __attribute__((aligned(4096)));
static u8 rx_buffer[2048] __attribute__((aligned(16)));
static u8 tx_buffer[HEADER + 590] __attribute__((aligned(16)));
static struct virtq_desc *desc[NET_QUEUES];
static struct virtq_avail *avail[NET_QUEUES];
static volatile struct virtq_used *used[NET_QUEUES];
static volatile u64 net_interrupt, net_timed_out, net_other_claims;
static u64 net_base;
static u32 net_irq;

static void net_on_interrupt(u64 cause, struct trap_frame *f) {
  (void)f;
  if (cause == IRQ_M_TIMER) {
    disarm_timer();
    net_timed_out = 1;
    net_interrupt = 1;
    return;
  }
  u32 source = plic_claim(PLIC_CONTEXT_M(0));
  if (source == 0) return;
  if (source == net_irq) {
    u32 status = mmio_read32(net_base + VIRTIO_INTERRUPT_STATUS);
    mmio_write32(net_base + VIRTIO_INTERRUPT_ACK, status);
    net_interrupt = 1;
  } else {
    net_other_claims++;
  }
  plic_complete(PLIC_CONTEXT_M(0), source);
}

static void set_up_queue(int q) {
  mmio_write32(net_base + VIRTIO_QUEUE_SEL, q);
  CHECK_EQ(mmio_read32(net_base + VIRTIO_QUEUE_READY), 0, "queue not ready after reset");
  CHECK(mmio_read32(net_base + VIRTIO_QUEUE_NUM_MAX) >= QUEUE_SIZE, "queue holds at least 8 descriptors");
  desc[q] = (struct virtq_desc *)net_rings[q][0];
  avail[q] = (struct virtq_avail *)net_rings[q][1];
  used[q] = (volatile struct virtq_used *)net_rings[q][2];
  mmio_write32(net_base + VIRTIO_QUEUE_NUM, QUEUE_SIZE);
  mmio_write32(net_base + VIRTIO_QUEUE_DESC_LOW, (u32)(u64)desc[q]);
  mmio_write32(net_base + VIRTIO_QUEUE_DESC_HIGH, (u32)((u64)desc[q] >> 32));
  mmio_write32(net_base + VIRTIO_QUEUE_DRIVER_LOW, (u32)(u64)avail[q]);
  mmio_write32(net_base + VIRTIO_QUEUE_DRIVER_HIGH, (u32)((u64)avail[q] >> 32));
  mmio_write32(net_base + VIRTIO_QUEUE_DEVICE_LOW, (u32)(u64)used[q]);
  mmio_write32(net_base + VIRTIO_QUEUE_DEVICE_HIGH, (u32)((u64)used[q] >> 32));
  mmio_write32(net_base + VIRTIO_QUEUE_READY, 1);
  CHECK_EQ(mmio_read32(net_base + VIRTIO_QUEUE_READY), 1, "queue ready");
}

static void offer(int q, u64 address, u32 length, u16 flags) {
  desc[q][0] = (struct virtq_desc){address, length, flags, 0};
  avail[q]->ring[avail[q]->idx % QUEUE_SIZE] = 0;
  fence();
  avail[q]->idx++;
  fence();
  mmio_write32(net_base + VIRTIO_QUEUE_NOTIFY, q);
}

static u32 put16(u8 *p, u32 v) { p[0] = v >> 8; p[1] = v; return 2; }

static u16 ip_checksum(const u8 *p, int n) {
  u32 sum = 0;
  for (int i = 0; i < n; i += 2) sum += (u32)p[i] << 8 | p[i + 1];
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (u16)~sum;
}

/* Ethernet + IPv4 + UDP + BOOTP DISCOVER (548 bytes of BOOTP, as slirp wants at least that). */
static u32 build_discover(u8 *frame, const u8 *mac) {
  memset(frame, 0, 590);
  memset(frame, 0xff, 6);
  memcpy(frame + 6, mac, 6);
  put16(frame + 12, 0x0800);
  u8 *ip = frame + 14, *udp = ip + 20, *bootp = udp + 8;
  ip[0] = 0x45;
  put16(ip + 2, 20 + 8 + 548);
  ip[8] = 64;
  ip[9] = 17;
  memset(ip + 16, 0xff, 4);
  put16(ip + 10, ip_checksum(ip, 20));
  put16(udp, 68);
  put16(udp + 2, 67);
  put16(udp + 4, 8 + 548);
  bootp[0] = 1; bootp[1] = 1; bootp[2] = 6;
  bootp[4] = (u8)(XID >> 24); bootp[5] = (u8)(XID >> 16); bootp[6] = (u8)(XID >> 8); bootp[7] = (u8)XID;
  bootp[10] = 0x80; /* broadcast */
  memcpy(bootp + 28, mac, 6);
  u8 *options = bootp + 236;
  options[0] = 99; options[1] = 130; options[2] = 83; options[3] = 99;
  options[4] = 53; options[5] = 1; options[6] = 1; /* DHCPDISCOVER */
  options[7] = 255;
  return 14 + 20 + 8 + 548;
}

/* The value of DHCP option `code` in the BOOTP reply, or 0 if it is missing. */
static const u8 *dhcp_option(const u8 *bootp, u32 length, u8 code) {
  for (u32 i = 240; i + 1 < length && bootp[i] != 255;) {
    if (bootp[i] == 0) { i++; continue; }
    if (bootp[i] == code) return bootp + i + 2;
    i += 2 + bootp[i + 1];
  }
  return 0;
}

void test_main(void) {
  int slot = virtio_find(1, "virtio-net");
  net_base = VIRTIO_BASE(slot);
  net_irq = VIRTIO_IRQ(slot);
  mmio_write32(net_base + VIRTIO_STATUS, 0);
  mmio_write32(net_base + VIRTIO_STATUS, STATUS_ACKNOWLEDGE | STATUS_DRIVER);
  mmio_write32(net_base + VIRTIO_DEVICE_FEATURES_SEL, 1);
  CHECK(mmio_read32(net_base + VIRTIO_DEVICE_FEATURES) & 1, "VIRTIO_F_VERSION_1 offered");
  mmio_write32(net_base + VIRTIO_DEVICE_FEATURES_SEL, 0);
  u32 low = mmio_read32(net_base + VIRTIO_DEVICE_FEATURES);
  CHECK(low & (1u << 5), "VIRTIO_NET_F_MAC offered");
  CHECK(low & (1u << 16), "VIRTIO_NET_F_STATUS offered");
  mmio_write32(net_base + VIRTIO_DRIVER_FEATURES_SEL, 0);
  mmio_write32(net_base + VIRTIO_DRIVER_FEATURES, (1u << 5) | (1u << 16));
  mmio_write32(net_base + VIRTIO_DRIVER_FEATURES_SEL, 1);
  mmio_write32(net_base + VIRTIO_DRIVER_FEATURES, 1);
  mmio_write32(net_base + VIRTIO_STATUS, STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK);
  CHECK(mmio_read32(net_base + VIRTIO_STATUS) & STATUS_FEATURES_OK, "FEATURES_OK accepted");

  u8 mac[6];
  for (int i = 0; i < 6; i++) mac[i] = mmio_read8(net_base + VIRTIO_CONFIG + i);
  static const u8 qemu_mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
  CHECK(memcmp(mac, qemu_mac, 6) == 0, "the MAC is 52:54:00:12:34:56");
  CHECK_EQ(mmio_read8(net_base + VIRTIO_CONFIG + 6) & 1, 1, "the link is up");

  set_up_queue(RX);
  set_up_queue(TX);
  mmio_write32(net_base + VIRTIO_STATUS, STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK | STATUS_DRIVER_OK);
  CHECK_EQ(mmio_read32(net_base + VIRTIO_STATUS) & (STATUS_DEVICE_NEEDS_RESET | STATUS_FAILED), 0, "healthy");
  plic_route_to_hart0(net_irq);

  memset(rx_buffer, 0, sizeof rx_buffer);
  offer(RX, (u64)rx_buffer, sizeof rx_buffer, DESC_F_WRITE);
  memset(tx_buffer, 0, HEADER);
  u32 length = build_discover(tx_buffer + HEADER, mac);

  m_irq_hook = net_on_interrupt;
  arm_timer(SECONDS(5));
  csr_write(mie, MIP_MEIP | MIP_MTIP);
  offer(TX, (u64)tx_buffer, HEADER + length, 0);
  while (used[RX]->idx == 0 && !net_timed_out) {
    net_interrupt = 0;
    if (used[RX]->idx != 0) break;
    wfi_until(&net_interrupt);
  }
  csr_write(mie, 0);
  disarm_timer();
  fence();
  if (used[RX]->idx == 0) harness_error("no answer to the DHCP DISCOVER within 5 s");
  CHECK_EQ(used[TX]->idx, 1, "the DISCOVER was sent");
  CHECK_EQ(mmio_read32(net_base + VIRTIO_STATUS) & STATUS_DEVICE_NEEDS_RESET, 0, "no device error");

  u32 got = used[RX]->ring[0].len;
  CHECK(got > HEADER + 14 + 20 + 8 + 240, "the answer holds a BOOTP message");
  /* virtio 1.2 5.1.6.4.1: num_buffers is 1 without MRG_RXBUF; QEMU 7.2 leaves it 0. */
  CHECK(rx_buffer[HEADER - 2] <= 1 && rx_buffer[HEADER - 1] == 0, "num_buffers is 1 (QEMU: 0)");
  const u8 *frame = rx_buffer + HEADER, *ip = frame + 14, *udp = ip + 20, *bootp = udp + 8;
  CHECK_EQ((u32)frame[12] << 8 | frame[13], 0x0800, "an IPv4 frame");
  CHECK_EQ(ip[9], 17, "a UDP datagram");
  CHECK_EQ((u32)udp[0] << 8 | udp[1], 67, "from the DHCP server port");
  CHECK_EQ(bootp[0], 2, "a BOOTREPLY");
  CHECK_EQ((u32)bootp[4] << 24 | (u32)bootp[5] << 16 | (u32)bootp[6] << 8 | bootp[7], XID, "for our transaction");
  CHECK(bootp[16] == 10 && bootp[17] == 0 && bootp[18] == 2 && bootp[19] == 15, "offering 10.0.2.15");
  u32 bootp_length = got - HEADER - 14 - 20 - 8;
  const u8 *type = dhcp_option(bootp, bootp_length, 53), *server = dhcp_option(bootp, bootp_length, 54);
  CHECK(type && type[0] == 2, "a DHCPOFFER");
  CHECK(server && server[0] == 10 && server[1] == 0 && server[2] == 2 && server[3] == 2, "from 10.0.2.2");
  CHECK_EQ(net_other_claims, 0, "no other source interrupted");
  gprintf("virtio-net: transport %d, DHCP offer of %d.%d.%d.%d from %d.%d.%d.%d\n", slot, bootp[16], bootp[17],
          bootp[18], bootp[19], server[0], server[1], server[2], server[3]);
  mmio_write32(net_base + VIRTIO_STATUS, 0);
}
