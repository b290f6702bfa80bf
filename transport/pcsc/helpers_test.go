package pcsc_test

import (
	"crypto"
	"time"
)

var cryptoSHA256 = crypto.SHA256

func sleepBrief() { time.Sleep(100 * time.Millisecond) }
