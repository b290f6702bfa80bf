//go:build !unix

package ctlchan

import (
	"context"
	"errors"
	"os"
)

// dialUnix fails: the libmbim and libqmi proxies run on Linux only.
func dialUnix(context.Context, string) (*os.File, error) {
	return nil, errors.New("the modem proxies' sockets exist on Linux only")
}
