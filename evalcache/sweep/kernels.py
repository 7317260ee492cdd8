"""How evalcache starts notebook kernels: papermill options shared by sweeps and reports."""

from __future__ import annotations

import functools
import os
from typing import Any

KERNEL_NAME = "python3"


def kernel_options() -> dict[str, Any]:
    """papermill options shared by every notebook evalcache executes.

    On POSIX kernels talk over Unix sockets in a private folder: no TCP ports taken, no
    ipykernel warning about unencrypted TCP on every run, and parallel cells never pick the
    same socket names (jupyter_client's default ipc prefix is shared by a working directory).
    A finished kernel is shut down without the interrupt jupyter_client sends first.
    """
    options: dict[str, Any] = {"kernel_name": KERNEL_NAME}
    if os.name == "posix":
        options["kernel_manager_class"] = _ipc_kernel_manager()
    return options


@functools.cache  # one class for every notebook run in this process
def _ipc_kernel_manager() -> type:
    import shutil
    import tempfile

    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    class IPCKernelManager(AsyncKernelManager):  # type: ignore[misc]
        @default("transport")
        def _transport_ipc(self) -> str:
            return "ipc"

        def _ip_default(self) -> str:
            return os.path.join(tempfile.mkdtemp(prefix="evalcache-kernel-"), "ipc")

        async def _async_interrupt_kernel(self) -> None:
            # Shutdown interrupts first, and the kernel may still be between its last reply
            # and restoring SIG_IGN: the signal then logs "KeyboardInterrupt caught in
            # kernel". The shutdown request (then SIGTERM, SIGKILL) stops it anyway.
            if not self.shutting_down:
                await super()._async_interrupt_kernel()

        async def _async_cleanup_resources(self, restart: bool = False) -> None:
            await super()._async_cleanup_resources(restart=restart)
            if not restart:  # a restarted kernel binds the same socket paths again
                shutil.rmtree(os.path.dirname(self.ip), ignore_errors=True)

    return IPCKernelManager
