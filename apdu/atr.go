package apdu

// HistoricalBytes returns the historical bytes of an answer to reset
// (ISO/IEC 7816-3 §8.2): as many as the low nibble of T0 says, after the
// interface bytes the Y indicators of T0 and each TDi announce.
func HistoricalBytes(atr []byte) ([]byte, error) {
	if len(atr) < 2 || (atr[0] != 0x3B && atr[0] != 0x3F) {
		return nil, syntaxErr("ATR", 0, "does not begin with TS 3B or 3F")
	}
	k := int(atr[1] & 0x0F)
	y := atr[1] >> 4
	i := 2
	for {
		for _, bit := range []byte{0x1, 0x2, 0x4} { // TA, TB, TC
			if y&bit != 0 {
				i++
			}
		}
		if y&0x8 == 0 {
			break
		}
		if i >= len(atr) {
			return nil, syntaxErr("ATR", i, "TD byte missing")
		}
		y = atr[i] >> 4
		i++
	}
	if i+k > len(atr) {
		return nil, syntaxErr("ATR", i, "%d historical bytes announced, %d present", k, max(len(atr)-i, 0))
	}
	return atr[i : i+k], nil
}

// ExtendedLengthInATR reports whether a card says in its answer to reset
// that it takes extended Lc and Le fields: bit b7 of the third byte of the
// card capabilities (compact-TLV tag 7 of the historical bytes, ISO/IEC
// 7816-4 §8.1.1.2.7). Historical bytes of category 00 (compact-TLV, three
// status bytes last) and 80 (compact-TLV only) are read; any other
// category, or an ATR that does not parse, says no.
func ExtendedLengthInATR(atr []byte) bool {
	h, err := HistoricalBytes(atr)
	if err != nil || len(h) == 0 {
		return false
	}
	var objs []byte
	switch h[0] {
	case 0x80:
		objs = h[1:]
	case 0x00:
		if len(h) < 4 {
			return false
		}
		objs = h[1 : len(h)-3]
	default:
		return false
	}
	for len(objs) > 0 {
		tag, n := objs[0]>>4, int(objs[0]&0x0F)
		if 1+n > len(objs) {
			return false
		}
		if tag == 7 && n >= 3 {
			return objs[3]&0x40 != 0
		}
		objs = objs[1+n:]
	}
	return false
}
