/* SPDX-License-Identifier: Apache-2.0 */
/*
 * How a device raises a line interrupt without knowing the interrupt controller: the
 * VM provides a callback (KVM_IRQ_LINE on the in-kernel IOAPIC/PIC).
 */
#ifndef VQVM_DEVICES_IRQ_H
#define VQVM_DEVICES_IRQ_H

struct irq_line {
	void (*set_level)(void *opaque, unsigned int gsi, int level);
	void *opaque;
	unsigned int gsi;
};

static inline void irq_line_set(const struct irq_line *line, int level)
{
	if (line->set_level)
		line->set_level(line->opaque, line->gsi, level);
}

#endif
