//go:build windows

package signaling

import "syscall"

// Winsock's errors for a process or system out of sockets or buffers
// (the syscall package's EMFILE and ENOBUFS are made-up values there),
// and Windows' for memory.
const (
	wsaEMFILE            syscall.Errno = 10024
	wsaENOBUFS           syscall.Errno = 10055
	errorNotEnoughMemory syscall.Errno = 8
)

// retriedAcceptErrors are the accept errors acceptErrorPasses waits out.
var retriedAcceptErrors = []syscall.Errno{
	wsaEMFILE, wsaENOBUFS, errorNotEnoughMemory,
	syscall.WSAECONNABORTED, syscall.WSAECONNRESET,
}
