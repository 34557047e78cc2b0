/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Dynamic MSI-X (6.2): vectors allocated one at a time after pci_alloc_irq_vectors()
 * (pci_msix_alloc_irq_at()) where the device allows it. Without it nothing can be allocated
 * later: pci_msix_can_alloc_dyn() says so, and drivers (mlx5's pci_irq.c) allocate every
 * vector up front, as they did before.
 */
#include_next <linux/pci.h>

#ifndef _OFED_LINUX_PCI_H
#define _OFED_LINUX_PCI_H

#ifndef HAVE_PCI_MSIX_ALLOC_IRQ_AT
struct msi_map {
	int	index;
	int	virq;
};

#define MSI_ANY_INDEX		UINT_MAX

static inline bool ofed_pci_msix_can_alloc_dyn(struct pci_dev *dev)
{
	return false;
}

static inline struct msi_map ofed_pci_msix_alloc_irq_at(struct pci_dev *dev, unsigned int index,
							const struct irq_affinity_desc *affdesc)
{
	struct msi_map map = { .index = -ENOTSUPP };

	return map;
}

static inline void ofed_pci_msix_free_irq(struct pci_dev *pdev, struct msi_map map)
{
}
#define pci_msix_can_alloc_dyn ofed_pci_msix_can_alloc_dyn
#define pci_msix_alloc_irq_at ofed_pci_msix_alloc_irq_at
#define pci_msix_free_irq ofed_pci_msix_free_irq
#endif

#endif /* _OFED_LINUX_PCI_H */
