//go:build !unix && !windows

package signaling

import "syscall"

// retriedAcceptErrors are the accept errors acceptErrorPasses waits out.
var retriedAcceptErrors = []syscall.Errno{
	syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM,
	syscall.ECONNABORTED, syscall.ECONNRESET,
}
