/* SPDX-License-Identifier: GPL-2.0 */
/*
 * blk_mq_rdma_map_queues() (4.13, removed upstream in 6.4) is built into the target's vmlinux
 * where CONFIG_BLK_MQ_RDMA=y (Debian 11 and 12). It reads struct ib_device at the target's
 * offsets: handed our device by the target's nvme-rdma, it faulted in _find_next_bit on the
 * first NVMe-oF connect. Our copy is compiled against our headers: it asks our core for the
 * vector affinity where the core still has ib_get_vector_affinity(), else maps the queues as
 * blk_mq_map_queues() does, which is what upstream nvme-rdma does since 6.4. Returns int
 * for 5.10's callers; 6.1's ignore it.
 */
#ifndef _OFED_COMPAT_LINUX_BLK_MQ_RDMA_H
#define _OFED_COMPAT_LINUX_BLK_MQ_RDMA_H

#ifdef HAVE_LINUX_BLK_MQ_RDMA_H
#include_next <linux/blk-mq-rdma.h>

#ifndef OFED_CORE_RDMA_HEADERS_ARE_TARGETS
#include <linux/blk-mq.h>
#include <rdma/ib_verbs.h>

static inline int ofed_blk_mq_rdma_map_queues(struct blk_mq_queue_map *map, struct ib_device *dev,
					      int first_vec)
{
#ifdef OFED_CORE_IB_GET_VECTOR_AFFINITY
	const struct cpumask *mask;
	unsigned int queue, cpu;

	for (queue = 0; queue < map->nr_queues; queue++) {
		mask = ib_get_vector_affinity(dev, first_vec + queue);
		if (!mask)
			goto fallback;
		for_each_cpu(cpu, mask)
			map->mq_map[cpu] = map->queue_offset + queue;
	}
	return 0;
fallback:
#endif
	blk_mq_map_queues(map);
	return 0;
}
/* Not in a genksyms pass: the ABI gate preprocesses the target's own definition over our
 * headers, which must keep its name. */
#ifndef __GENKSYMS__
#define blk_mq_rdma_map_queues(map, dev, first_vec) ofed_blk_mq_rdma_map_queues(map, dev, first_vec)
#endif
#endif /* !OFED_CORE_RDMA_HEADERS_ARE_TARGETS */
#endif /* HAVE_LINUX_BLK_MQ_RDMA_H */

#endif
