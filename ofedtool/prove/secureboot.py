"""A UEFI Secure Boot machine for vmtest whose MOK list holds our module-signing certificate.

This is how a user's machine comes to trust a third-party module signer: `mokutil --import` and
shim put the certificate in MokList, shim hands it to the kernel as the runtime variable MokListRT,
and the kernel loads it at boot. Here there is no shim: the OVMF variable store we give QEMU holds
MokListRT already, which is all the kernel reads. What the Debian 6.1 and 6.12 kernels require
(security/integrity/platform_certs/load_uefi.c, machine_keyring.c; CONFIG_LOAD_UEFI_KEYS=y,
CONFIG_INTEGRITY_MACHINE_KEYRING=y, CONFIG_SECONDARY_TRUSTED_KEYRING=y):

* Secure Boot must be on (arch_ima_get_secureboot(): "the MOK/MOKx can not be trusted when
  secure boot is disabled"), i.e. SecureBoot=1 and SetupMode=0, so a PK is enrolled: ours.
* MokListRT, vendor GUID shim's, holds an EFI_SIGNATURE_LIST of EFI_CERT_X509 entries.
* Debian's trust_moklist() is always true (upstream asks shim's MokListTrustedRT in the MOKvar
  config table, which only shim can make), so the certificate goes to the .machine keyring,
  which is linked into .secondary_trusted_keys, which module signature checks use.

The db holds the distro's Secure Boot CA (virt-firmware's list), as on a real machine, so the
distro's signed vmlinuz verifies. Note that OVMF's -kernel loader falls back to its legacy path
when an image fails that check (an unsigned image boots too), so the firmware's verdict on vmlinuz
is not what this proves; the kernel's verdict on our modules is.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import OfedError

OVMF_DIR = Path("/usr/share/OVMF")
# The 4M build without SMM: it enforces Secure Boot and runs on QEMU's default machine under TCG.
OVMF_CODE, OVMF_VARS = "OVMF_CODE_4M.fd", "OVMF_VARS_4M.fd"
SHIM_GUID = "605dab50-e046-4300-abb6-3dd810dd8b23"


@dataclass(frozen=True)
class Machine:
    code: Path      # firmware, read-only
    vars: Path      # this run's variable store (QEMU writes to it)
    subject: str    # CN of the certificate in MokListRT, as the kernel names its key
    db: list[str]   # CNs of the db certificates

    def qemu_args(self) -> list[str]:
        return ["-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={self.code}",
                "-drive", f"if=pflash,format=raw,unit=1,file={self.vars}"]


def firmware(ovmf_dir: Path = OVMF_DIR) -> tuple[Path, Path]:
    code, template = ovmf_dir / OVMF_CODE, ovmf_dir / OVMF_VARS
    for f in (code, template):
        if not f.is_file():
            raise OfedError(f"UEFI firmware {f} not found: install the Debian package 'ovmf'")
    return code, template


def subject_cn(cert: Path) -> str:
    """The certificate's CN (PEM or DER): the kernel names the key '<CN>: <subject key id>'."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID
    data = Path(cert).read_bytes()
    try:
        c = x509.load_pem_x509_certificate(data) if b"-----BEGIN" in data else x509.load_der_x509_certificate(data)
    except ValueError as e:
        raise OfedError(f"--sign-cert {cert}: not an X.509 certificate ({e})") from None
    cns = c.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not cns:
        raise OfedError(f"--sign-cert {cert}: no CN in the subject; the guest could not name the key")
    return str(cns[0].value)


def machine(out: Path, cert: Path, distro: str) -> Machine:
    """Write out/OVMF_VARS.fd: PK and KEK our cert (we own the platform), db the distro's Secure
    Boot CA, MokListRT our cert, Secure Boot enabled."""
    from cryptography.x509.oid import NameOID
    from virt.firmware.efi import certs, efivar, guids
    from virt.firmware.varstore.edk2 import Edk2VarStore

    code, template = firmware()
    subject = subject_cn(cert)
    if distro not in certs.DISTRO_CA:
        raise OfedError(f"no Secure Boot CA known for distro '{distro}' (virt-firmware knows: "
                        f"{', '.join(certs.DISTRO_CA)})")
    store = Edk2VarStore(str(template))
    varlist = store.get_varlist()
    varlist.enroll_platform_with_cert(str(cert), ms_kek="none")
    varlist.add_distro_keys(distro)
    mok = efivar.EfiVar("MokListRT", guid=SHIM_GUID,
                        # Shim makes it volatile; a variable store file only keeps non-volatile ones.
                        attr=efivar.EFI_VARIABLE_NON_VOLATILE | efivar.EFI_VARIABLE_BOOTSERVICE_ACCESS
                        | efivar.EFI_VARIABLE_RUNTIME_ACCESS)
    mok.sigdb_add_cert(guids.parse_str(SHIM_GUID), str(cert))
    varlist["MokListRT"] = mok
    varlist.enable_secureboot()
    out.mkdir(parents=True, exist_ok=True)
    store.write_varstore(str(out / "OVMF_VARS.fd"), varlist)
    db = [str(cn.value) for sl in varlist["db"].sigdb if sl.x509 is not None
          for cn in sl.x509.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    return Machine(code, out / "OVMF_VARS.fd", subject, db)
