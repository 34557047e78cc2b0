"""Stage 5, prove: boot the target's real kernel in QEMU with our modules (vmtest,
Secure Boot, initramfs) and report the results (JUnit, HTML, screenshot)."""
