package pcsc_test

import "crypto"

var cryptoSHA256 = crypto.SHA256
