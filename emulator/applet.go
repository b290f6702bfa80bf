package emulator

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"github.com/go-iotsafe/iotsafe/internal/keys"
	"hash"
	"math/bits"

	"github.com/go-iotsafe/iotsafe/apdu"
	"github.com/go-iotsafe/iotsafe/spec"
)

// Op is the kind of work a command costs in the timing model.
type Op uint8

// The operations the timing model prices.
const (
	OpNone Op = iota
	OpSign
	OpVerify
	OpKeyGen
	OpDH
	OpKDF
	OpRandom
	OpRead
	OpSignRSA   // RSA-2048 signature
	OpVerifyRSA // RSA-2048 verification
	OpKeyGenRSA // RSA-2048 key pair generation
)

// applet dispatches an IoT SAFE command on a channel where the applet is
// selected.
func (c *Card) applet(ch *channel, cmd apdu.Command) ([]byte, apdu.StatusWord, Op) {
	switch cmd.INS {
	case spec.InsGetRandom:
		d, sw := c.getRandom(cmd)
		return d, sw, OpRandom
	case spec.InsGetData:
		d, sw := c.getData(ch, cmd)
		return d, sw, OpNone
	case spec.InsReadFile:
		d, sw := c.readFile(cmd)
		return d, sw, OpRead
	case spec.InsComputeSigInit, spec.InsVerifySigInit, spec.InsPutPublicKeyInit:
		return nil, c.sessionInit(ch, cmd), OpNone
	case spec.InsComputeSigUpdate:
		return c.signUpdate(ch, cmd)
	case spec.InsVerifySigUpdate:
		sw, op := c.verifyUpdate(ch, cmd)
		return nil, sw, op
	case spec.InsPutPublicKeyUpdate:
		return nil, c.putKeyUpdate(ch, cmd), OpNone
	case spec.InsGenerateKeyPair:
		return c.generateKeyPair(cmd)
	case spec.InsReadPublicKey:
		d, sw := c.readPublicKey(cmd)
		return d, sw, OpNone
	case spec.InsComputeDH:
		d, sw := c.computeDH(cmd)
		return d, sw, OpDH
	case spec.InsComputePRF:
		d, sw := c.computePRF(cmd)
		return d, sw, OpKDF
	case spec.InsComputeHKDF:
		d, sw := c.computeHKDF(cmd)
		return d, sw, OpKDF
	}
	return nil, apdu.SWInvalidInstruction, OpNone
}

// fields is the parsed command data: every TLV, each tag at most once, all
// tags from the allowed set.
type fields map[apdu.Tag][]byte

func parseFields(data []byte, allowed ...apdu.Tag) (fields, apdu.StatusWord) {
	tlvs, err := apdu.ParseTLVs(data)
	if err != nil {
		return nil, apdu.SWIncorrectData
	}
	f := make(fields, len(tlvs))
	for _, t := range tlvs {
		ok := false
		for _, a := range allowed {
			ok = ok || a == t.Tag
		}
		if !ok {
			return nil, apdu.SWIncorrectData
		}
		if _, dup := f[t.Tag]; dup {
			return nil, apdu.SWIncorrectData
		}
		f[t.Tag] = t.Value
	}
	return f, apdu.SWSuccess
}

// ref resolves the ID or label of kind k (exactly one must be present).
func (c *Card) ref(f fields, k spec.ObjectKind) (*object, apdu.StatusWord) {
	id, hasID := f[k.IDTag()]
	label, hasLabel := f[k.LabelTag()]
	if hasID == hasLabel {
		return nil, apdu.SWIncorrectData
	}
	var o *object
	if hasID {
		if len(id) == 0 || len(id) > spec.MaxIDLen {
			return nil, apdu.SWIncorrectData
		}
		o = c.st.find(k, id)
	} else {
		if len(label) == 0 || len(label) > spec.MaxLabelLen {
			return nil, apdu.SWIncorrectData
		}
		o = c.st.findLabel(k, string(label))
	}
	if o == nil {
		return nil, apdu.SWNotFound
	}
	if c.underAdmin(o) {
		return nil, apdu.SWDataInvalidated
	}
	return o, apdu.SWSuccess
}

func (c *Card) underAdmin(o *object) bool {
	if !c.st.Admin.alive() {
		return false
	}
	k := o.key()
	for _, x := range c.st.Admin.Objects {
		if x == k {
			return true
		}
	}
	return false
}

func (c *Card) getRandom(cmd apdu.Command) ([]byte, apdu.StatusWord) {
	if cmd.P1 != 0 || cmd.P2 != 0 {
		return nil, apdu.SWIncorrectP1P2
	}
	if len(cmd.Data) != 0 || cmd.Ne == 0 {
		return nil, apdu.SWWrongLength
	}
	b := make([]byte, cmd.Ne)
	if _, err := c.rnd.Read(b); err != nil {
		return nil, apdu.SWUnknown
	}
	return b, apdu.SWSuccess
}

// ---- Get Data ----

func (c *Card) appInfo() []byte {
	v := c.st.Variant
	id := make([]byte, v.AppletIDLen)
	copy(id, "go-iotsafe emulator IoT SAFE 1.0")
	d := make([]byte, 0, 70)
	d = append(d, byte(spec.TagVersion), 1, 0x01)
	d = apdu.AppendTLV(d, spec.TagAppletID, id)
	d = append(d, byte(spec.TagMaxFiles), 1, maxFiles, byte(spec.TagMaxPrivateKeys), 1, maxPrivateKeys,
		byte(spec.TagMaxPublicKeys), 1, maxPublicKeys, byte(spec.TagMaxSecretKeys), 1, maxSecretKeys,
		byte(spec.TagAppCryptoFuncs), 1, spec.FuncSignature|spec.FuncKeyGeneration|spec.FuncKeyAgreement|spec.FuncKeyDerivation)
	hashes := spec.HashSHA256 | spec.HashSHA384 | spec.HashSHA512
	if v.HashFieldLen == 1 {
		d = append(d, byte(spec.TagHashAlgs), 1, byte(hashes))
	} else {
		d = append(d, byte(spec.TagHashAlgs), 2, byte(hashes>>8), byte(hashes))
	}
	d = append(d, byte(spec.TagSigAlgs), 1, c.sigAlgs(), byte(spec.TagAppKeyAgreement), 1, spec.KeyAgreementECKA,
		byte(spec.TagKeyDerivation), 1, spec.KDFPRFSHA256|spec.KDFHKDF, byte(spec.TagMaxSessions), 1, byte(c.opts.MaxSessions))
	return d
}

// sigAlgs returns the signature algorithms the applet offers: ECDSA, and
// those of the key types its store holds.
func (c *Card) sigAlgs() byte {
	algs := spec.SigECDSA
	for _, o := range c.st.Objects {
		algs |= spec.KindOfKeyType(o.KeyType).SigAlgsFor()
	}
	return algs
}

// objectTLVs encodes an object's attributes (without the outer tag).
func objectTLVs(dst []byte, o *object) []byte {
	if o.Label != "" {
		dst = apdu.AppendTLV(dst, o.Kind.LabelTag(), []byte(o.Label))
	}
	dst = apdu.AppendTLV(dst, o.Kind.IDTag(), o.ID)
	dst = append(dst, byte(spec.TagAccess), 1, o.Access, byte(spec.TagObjectState), 1, o.State)
	switch o.Kind {
	case spec.KindFile:
		dst = append(dst, byte(spec.TagFileUsage), 1, o.FileUsage, byte(spec.TagFileSize), 2, byte(o.Size>>8), byte(o.Size))
	case spec.KindSecretKey:
		dst = append(dst, byte(spec.TagKeyType), 1, o.KeyType, byte(spec.TagObjCryptoFuncs), 1, o.Funcs)
		if o.KDF != 0 {
			dst = append(dst, byte(spec.TagKeyDerivation), 1, o.KDF)
		}
	default:
		dst = append(dst, byte(spec.TagKeyType), 1, o.KeyType, byte(spec.TagKeyUsage), 1, o.KeyUsage,
			byte(spec.TagObjCryptoFuncs), 1, o.Funcs)
		if o.SigAlgs != 0 {
			dst = append(dst, byte(spec.TagSigAlgs), 1, o.SigAlgs, byte(spec.TagHashAlgs), 2, byte(o.HashAlgs>>8), byte(o.HashAlgs))
		}
		if o.KeyAgreement != 0 {
			dst = append(dst, byte(spec.TagObjKeyAgreement), 1, o.KeyAgreement)
		}
	}
	return dst
}

// maxGroupLen is the longest group of objects under one kind tag: a group
// that would be longer is split into several groups of the same tag, so
// that every group length fits the one byte the Thales PKCS#11 module
// reads (it takes the first length byte as the length, and a long-form
// "81 8C" sends its parser into an endless loop); still valid BER.
const maxGroupLen = 0x7F

func (c *Card) objectList() []byte {
	var out []byte
	for _, k := range []spec.ObjectKind{spec.KindPrivateKey, spec.KindPublicKey, spec.KindSecretKey, spec.KindFile} {
		var group []byte
		for _, o := range c.st.Objects {
			if o.Kind != k {
				continue
			}
			tlvs := objectTLVs(nil, o)
			if !c.st.Variant.GroupObjects {
				out = apdu.AppendTLV(out, apdu.Tag(k), tlvs)
				continue
			}
			if group != nil && len(group)+len(tlvs) > maxGroupLen {
				out = apdu.AppendTLV(out, apdu.Tag(k), group)
				group = nil
			}
			group = append(group, tlvs...)
		}
		if group != nil {
			out = apdu.AppendTLV(out, apdu.Tag(k), group)
		}
	}
	return out
}

func (c *Card) getData(ch *channel, cmd apdu.Command) ([]byte, apdu.StatusWord) {
	switch cmd.P1 {
	case spec.GetDataApplication:
		if cmd.P2 != 0 {
			return nil, apdu.SWIncorrectP1P2
		}
		if len(cmd.Data) != 0 {
			return nil, apdu.SWWrongLength
		}
		d := c.appInfo()
		if cmd.Ne > 0 && cmd.Ne < len(d) {
			return nil, apdu.StatusWord(0x6C00 | uint16(len(d)))
		}
		return d, apdu.SWSuccess
	case spec.GetDataObjectList:
		if len(cmd.Data) != 0 {
			return nil, apdu.SWWrongLength
		}
		switch cmd.P2 {
		case 0x00:
			ch.listRest = c.objectList()
		case 0x01:
			if ch.listRest == nil {
				return nil, apdu.SWConditionsNotSatisfied
			}
		default:
			return nil, apdu.SWIncorrectP1P2
		}
		n := c.st.Variant.ObjectListChunk
		if cmd.Ne > 0 && cmd.Ne < n {
			n = cmd.Ne
		}
		if len(ch.listRest) <= n {
			out := ch.listRest
			ch.listRest = nil
			return out, apdu.SWSuccess
		}
		out := ch.listRest[:n]
		ch.listRest = ch.listRest[n:]
		return out, apdu.SWMoreData
	case spec.GetDataPrivateKey, spec.GetDataPublicKey, spec.GetDataFile, spec.GetDataSecretKey:
		if cmd.P2 != 0 {
			return nil, apdu.SWIncorrectP1P2
		}
		k := spec.ObjectKind(cmd.P1)
		f, sw := parseFields(cmd.Data, k.IDTag(), k.LabelTag())
		if sw != apdu.SWSuccess {
			return nil, sw
		}
		o, sw := c.ref(f, k)
		if sw != apdu.SWSuccess {
			return nil, sw
		}
		inner := objectTLVs(nil, o)
		if k == spec.KindFile && !c.st.Variant.FileInfoWrapper {
			return inner, apdu.SWSuccess
		}
		return apdu.AppendTLV(nil, apdu.Tag(k), inner), apdu.SWSuccess
	}
	return nil, apdu.SWIncorrectP1P2
}

// ---- Read File ----

func (c *Card) readFile(cmd apdu.Command) ([]byte, apdu.StatusWord) {
	f, sw := parseFields(cmd.Data, spec.TagFileID, spec.TagFileLabel)
	if sw != apdu.SWSuccess {
		return nil, sw
	}
	o, sw := c.ref(f, spec.KindFile)
	if sw != apdu.SWSuccess {
		return nil, sw
	}
	if !o.active() || o.Access&spec.AccessRead == 0 {
		return nil, apdu.SWConditionsNotSatisfied
	}
	off := int(cmd.P1)<<8 | int(cmd.P2)
	if off > len(o.Value) {
		return nil, apdu.SWIncorrectP1P2
	}
	n := cmd.Ne
	if n == 0 {
		n = 256
	}
	n = min(n, len(o.Value)-off)
	return append([]byte(nil), o.Value[off:off+n]...), apdu.SWSuccess
}

// ---- sessions: Compute Signature, Verify Signature, Put Public Key ----

func hashFor(h uint16) func() hash.Hash {
	switch h {
	case spec.HashSHA256:
		return sha256.New
	case spec.HashSHA384:
		return sha512.New384
	case spec.HashSHA512:
		return sha512.New
	}
	return nil
}

func hashSize(h uint16) int {
	if f := hashFor(h); f != nil {
		return f().Size()
	}
	return 0
}

func (c *Card) sessionInit(ch *channel, cmd apdu.Command) apdu.StatusWord {
	if int(cmd.P2) >= len(ch.sessions) {
		return apdu.SWIncorrectP1P2
	}
	s := &ch.sessions[cmd.P2]
	switch cmd.P1 {
	case spec.SessionClose:
		if len(cmd.Data) != 0 {
			return apdu.SWWrongLength
		}
		*s = session{}
		return apdu.SWSuccess
	case spec.SessionOpen:
	default:
		return apdu.SWIncorrectP1P2
	}
	*s = session{}
	if cmd.INS == spec.InsPutPublicKeyInit {
		f, sw := parseFields(cmd.Data, spec.TagPublicKeyID, spec.TagPublicKeyLabel)
		if sw != apdu.SWSuccess {
			return sw
		}
		o, sw := c.ref(f, spec.KindPublicKey)
		if sw != apdu.SWSuccess {
			return sw
		}
		if o.Access&spec.AccessUpdate == 0 {
			return apdu.SWConditionsNotSatisfied
		}
		*s = session{op: opPutKey, obj: o}
		return apdu.SWSuccess
	}
	kind, op := spec.KindPrivateKey, opSign
	if cmd.INS == spec.InsVerifySigInit {
		kind, op = spec.KindPublicKey, opVerify
	}
	f, sw := parseFields(cmd.Data, kind.IDTag(), kind.LabelTag(), spec.TagMode, spec.TagHashAlgs, spec.TagSigAlgs)
	if sw != apdu.SWSuccess {
		return sw
	}
	mode, sig := f[spec.TagMode], f[spec.TagSigAlgs]
	// An algorithm the applet does not offer at all (application
	// information, tag 92) is incorrect data; one it offers but the key
	// cannot run is refused below as a condition of use.
	if len(mode) != 1 || mode[0] < spec.ModeFullText || mode[0] > spec.ModePadSign || len(sig) != 1 ||
		bits.OnesCount8(sig[0]) != 1 || c.sigAlgs()&sig[0] == 0 {
		return apdu.SWIncorrectData
	}
	h := spec.HashSHA256
	if hv, ok := f[spec.TagHashAlgs]; ok {
		if len(hv) != 2 {
			return apdu.SWIncorrectData
		}
		h = uint16(hv[0])<<8 | uint16(hv[1])
		if hashFor(h) == nil {
			return apdu.SWIncorrectData
		}
	}
	if mode[0] == spec.ModeLastBlock && h != spec.HashSHA256 {
		return apdu.SWIncorrectData
	}
	o, sw := c.ref(f, kind)
	if sw != apdu.SWSuccess {
		return sw
	}
	// An algorithm the key cannot run (RSA-PSS with an EC key, ECDSA with
	// an RSA key) is refused like any function the object lacks.
	if !o.active() || o.Funcs&spec.FuncSignature == 0 || !algAllowed(o, sig[0]) || o.HashAlgs&h == 0 {
		return apdu.SWConditionsNotSatisfied
	}
	*s = session{op: op, obj: o, mode: mode[0], hash: h, alg: sig[0]}
	if mode[0] == spec.ModeFullText {
		s.stream.h = hashFor(h)()
	}
	return apdu.SWSuccess
}

// streamState follows a value sent over several Update blocks: the first
// block starts with the TLV header (tag and BER length of the whole value),
// later blocks continue it; a block may also start a new TLV of the same
// tag once the previous one is complete (every block its own TLV).
type streamState struct {
	started   bool
	remaining int       // value bytes still expected
	h         hash.Hash // full-text: hashes the value as it comes
	value     []byte    // put public key: collects the value
	tail      []byte    // verify: what follows the value (the signature TLV)
}

// feed consumes one block for a value of tag t. collect keeps the value
// bytes (else they are hashed); after the value, bytes go to tail when
// allowTail.
func (st *streamState) feed(b []byte, t apdu.Tag, collect, allowTail bool) apdu.StatusWord {
	for len(b) > 0 {
		if st.remaining == 0 && len(st.tail) == 0 && (!st.started || (apdu.Tag(b[0]) == t && !allowTail)) {
			if apdu.Tag(b[0]) != t {
				return apdu.SWIncorrectData
			}
			n, ln, err := apdu.ReadLength(b[1:])
			if err != nil && len(b) > 1 {
				return apdu.SWIncorrectData
			}
			if err != nil {
				return apdu.SWIncorrectData
			}
			st.started, st.remaining = true, n
			b = b[1+ln:]
			continue
		}
		if st.remaining > 0 {
			k := min(st.remaining, len(b))
			if collect {
				st.value = append(st.value, b[:k]...)
			} else {
				st.h.Write(b[:k])
			}
			st.remaining -= k
			b = b[k:]
			continue
		}
		if !allowTail {
			return apdu.SWIncorrectData
		}
		st.tail = append(st.tail, b...)
		b = nil
	}
	return apdu.SWSuccess
}

func (c *Card) sessionFor(ch *channel, cmd apdu.Command, op sessionOp) (*session, apdu.StatusWord) {
	if cmd.P1 != spec.BlockLast && cmd.P1 != spec.BlockMore {
		return nil, apdu.SWIncorrectP1P2
	}
	if int(cmd.P2) >= len(ch.sessions) {
		return nil, apdu.SWIncorrectP1P2
	}
	s := &ch.sessions[cmd.P2]
	if s.op != op {
		return nil, apdu.SWConditionsNotSatisfied
	}
	if c.underAdmin(s.obj) {
		*s = session{}
		return nil, apdu.SWDataInvalidated
	}
	return s, apdu.SWSuccess
}

// digest computes what the session signs or verifies from an Update block,
// returning the digest once the last block is in (nil before).
func (s *session) digest(cmd apdu.Command, verify bool) ([]byte, apdu.StatusWord) {
	last := cmd.P1 == spec.BlockLast
	data := cmd.Data
	if verify && s.mode != spec.ModeFullText {
		// The hash and an RSA signature (33 01 00 + 256 bytes) do not fit
		// one command: the host sends them in blocks, all but the last
		// marked "more".
		s.stream.value = append(s.stream.value, cmd.Data...)
		if len(s.stream.value) > maxVerifyData {
			return nil, apdu.SWWrongLength
		}
		if !last {
			return nil, apdu.SWSuccess
		}
		data = s.stream.value
	}
	switch s.mode {
	case spec.ModePadSign:
		if !last {
			return nil, apdu.SWConditionsNotSatisfied
		}
		t, rest, err := apdu.ReadTLV(data)
		if err != nil || t.Tag != spec.TagFinalHash || len(t.Value) != hashSize(s.hash) {
			return nil, apdu.SWIncorrectData
		}
		if verify {
			s.stream.tail = rest
		} else if len(rest) != 0 {
			return nil, apdu.SWIncorrectData
		}
		return t.Value, apdu.SWSuccess
	case spec.ModeFullText:
		if sw := s.stream.feed(cmd.Data, spec.TagFullText, false, verify); sw != apdu.SWSuccess {
			return nil, sw
		}
		if !last {
			return nil, apdu.SWSuccess
		}
		if !s.stream.started || s.stream.remaining != 0 {
			return nil, apdu.SWIncorrectData
		}
		return s.stream.h.Sum(nil), apdu.SWSuccess
	case spec.ModeLastBlock:
		if !last {
			return nil, apdu.SWConditionsNotSatisfied
		}
		rest := data
		f := fields{}
		for _, want := range []apdu.Tag{spec.TagIntermediateHash, spec.TagBytesHashed, spec.TagLastBlock} {
			t, r, err := apdu.ReadTLV(rest)
			if err != nil || t.Tag != want {
				return nil, apdu.SWIncorrectData
			}
			f[want], rest = t.Value, r
		}
		if verify {
			s.stream.tail = rest
		} else if len(rest) != 0 {
			return nil, apdu.SWIncorrectData
		}
		state, count, tail := f[spec.TagIntermediateHash], f[spec.TagBytesHashed], f[spec.TagLastBlock]
		if len(state) != 32 || len(count) != 4 || len(tail) > 128 {
			return nil, apdu.SWIncorrectData
		}
		n := uint64(count[0])<<24 | uint64(count[1])<<16 | uint64(count[2])<<8 | uint64(count[3])
		if n%64 != 0 {
			return nil, apdu.SWIncorrectData
		}
		h, ok := resumeSHA256(state, n)
		if !ok {
			return nil, apdu.SWIncorrectData
		}
		h.Write(tail)
		return h.Sum(nil), apdu.SWSuccess
	}
	return nil, apdu.SWConditionsNotSatisfied
}

// resumeSHA256 rebuilds a SHA-256 hash from a chaining value and the count
// of bytes (a multiple of 64) it covers, through crypto/sha256's
// documented binary marshaling: "sha\x03", the 8 state words, a 64-byte
// block buffer, and the 64-bit length.
func resumeSHA256(state []byte, n uint64) (hash.Hash, bool) {
	b := make([]byte, 0, 4+32+64+8)
	b = append(b, "sha\x03"...)
	b = append(b, state...)
	b = append(b, make([]byte, 64)...)
	for i := 7; i >= 0; i-- {
		b = append(b, byte(n>>(8*i)))
	}
	h := sha256.New()
	u, ok := h.(interface{ UnmarshalBinary([]byte) error })
	if !ok || u.UnmarshalBinary(b) != nil {
		return nil, false
	}
	return h, true
}

// maxVerifyData bounds what Verify Signature collects in pad-and-sign and
// last-block modes: a 64-byte hash or 170 bytes of last-block fields,
// plus an RSA-2048 signature TLV, with room to spare.
const maxVerifyData = 1024

// opFor returns the timing class of an operation with a key of this type.
func opFor(o *object, op Op) Op {
	if o == nil || spec.KindOfKeyType(o.KeyType) != spec.KeyKindRSA2048 {
		return op
	}
	switch op {
	case OpSign:
		return OpSignRSA
	case OpVerify:
		return OpVerifyRSA
	case OpKeyGen:
		return OpKeyGenRSA
	}
	return op
}

func (c *Card) signUpdate(ch *channel, cmd apdu.Command) ([]byte, apdu.StatusWord, Op) {
	s, sw := c.sessionFor(ch, cmd, opSign)
	if sw != apdu.SWSuccess {
		return nil, sw, OpNone
	}
	digest, sw := s.digest(cmd, false)
	if sw != apdu.SWSuccess {
		*s = session{}
		return nil, sw, OpNone
	}
	if cmd.P1 != spec.BlockLast {
		return nil, apdu.SWSuccess, OpNone
	}
	obj, alg, h := s.obj, s.alg, s.hash
	*s = session{} // the card closes the session after the last block
	op := opFor(obj, OpSign)
	key, err := c.privateKey(obj)
	if err != nil {
		return nil, apdu.SWIntegrity, op
	}
	sig, err := cardSign(c.rnd, key, alg, h, digest)
	if err != nil {
		return nil, apdu.SWUnknown, op
	}
	if c.st.Variant.DERSignatures && alg == spec.SigECDSA {
		if sig, err = spec.SignatureToDER(sig); err != nil {
			return nil, apdu.SWUnknown, op
		}
	}
	return spec.AppendSignatureTLV(make([]byte, 0, 4+len(sig)), sig, c.st.Variant.SigStyle), apdu.SWSuccess, op
}

func (c *Card) verifyUpdate(ch *channel, cmd apdu.Command) (apdu.StatusWord, Op) {
	s, sw := c.sessionFor(ch, cmd, opVerify)
	if sw != apdu.SWSuccess {
		return sw, OpNone
	}
	digest, sw := s.digest(cmd, true)
	if sw != apdu.SWSuccess {
		*s = session{}
		return sw, OpNone
	}
	if cmd.P1 != spec.BlockLast {
		return apdu.SWSuccess, OpNone
	}
	obj, tail, alg, h := s.obj, s.stream.tail, s.alg, s.hash
	*s = session{}
	sig, rest, err := spec.ReadSignatureTLV(tail)
	if err != nil || len(rest) != 0 {
		return apdu.SWIncorrectData, OpNone
	}
	return cardVerify(obj, alg, h, digest, sig), opFor(obj, OpVerify)
}

func (c *Card) putKeyUpdate(ch *channel, cmd apdu.Command) apdu.StatusWord {
	s, sw := c.sessionFor(ch, cmd, opPutKey)
	if sw != apdu.SWSuccess {
		return sw
	}
	if sw := s.stream.feed(cmd.Data, spec.TagPublicKeyData, true, false); sw != apdu.SWSuccess {
		*s = session{}
		return sw
	}
	if len(s.stream.value) > 512 {
		*s = session{}
		return apdu.SWWrongLength
	}
	if cmd.P1 != spec.BlockLast {
		return apdu.SWSuccess
	}
	obj, value, complete := s.obj, s.stream.value, s.stream.started && s.stream.remaining == 0
	*s = session{}
	if !complete {
		return apdu.SWIncorrectData
	}
	point, ok := storedPublic(obj.KeyType, value)
	if !ok {
		return apdu.SWIncorrectData
	}
	kind, id := obj.Kind, obj.ID
	return c.mutate(func(st *state) apdu.StatusWord {
		o := st.find(kind, id)
		if o == nil {
			return apdu.SWNotFound
		}
		o.Value = append([]byte(nil), point...)
		o.State = spec.StateActivated
		return apdu.SWSuccess
	})
}

// ---- keys ----

func (c *Card) generateKeyPair(cmd apdu.Command) ([]byte, apdu.StatusWord, Op) {
	d, sw, o := c.generateKeyPairOn(cmd)
	return d, sw, opFor(o, OpKeyGen)
}

func (c *Card) generateKeyPairOn(cmd apdu.Command) ([]byte, apdu.StatusWord, *object) {
	if cmd.P1 != 0 || cmd.P2 != 0 {
		return nil, apdu.SWIncorrectP1P2, nil
	}
	f, sw := parseFields(cmd.Data, spec.TagPrivateKeyID, spec.TagPrivateKeyLabel)
	if sw != apdu.SWSuccess {
		return nil, sw, nil
	}
	o, sw := c.ref(f, spec.KindPrivateKey)
	if sw != apdu.SWSuccess {
		return nil, sw, nil
	}
	if o.Funcs&spec.FuncKeyGeneration == 0 || o.Access&spec.AccessUpdate == 0 {
		return nil, apdu.SWConditionsNotSatisfied, o
	}
	priv, point, err := genKey(c.rnd, o.KeyType)
	if err != nil {
		return nil, apdu.SWConditionsNotSatisfied, o
	}
	pubData, err := publicKeyData(&object{KeyType: o.KeyType, Value: point}, c.st.Variant.RSAPublicKeyDER)
	if err != nil {
		return nil, apdu.SWUnknown, o
	}
	oldID := o.ID
	var privID, pubID []byte
	sw = c.mutate(func(st *state) apdu.StatusWord {
		po := st.find(spec.KindPrivateKey, oldID)
		if po == nil {
			return apdu.SWNotFound
		}
		pub := st.find(spec.KindPublicKey, oldID)
		if pub == nil {
			if st.count(spec.KindPublicKey) >= maxPublicKeys {
				return apdu.SWNotEnoughMemory
			}
			cp := *po
			cp.Kind, cp.Access, cp.Value = spec.KindPublicKey, spec.AccessRead, nil
			pub = &cp
			st.Objects = append(st.Objects, pub)
		}
		if st.Variant.KeygenNewIDs {
			nid := freshID(st, po.ID)
			po.ID, pub.ID = nid, append(hexBytes(nil), nid...)
		}
		po.Value, po.State = priv, spec.StateActivated
		pub.Value, pub.State = point, spec.StateActivated
		privID, pubID = po.ID, pub.ID
		return apdu.SWSuccess
	})
	if sw != apdu.SWSuccess {
		return nil, sw, o
	}
	delete(c.keys, objKey(spec.KindPrivateKey, oldID))
	out := apdu.AppendTLV(nil, spec.TagPrivateKeyID, privID)
	out = apdu.AppendTLV(out, spec.TagPublicKeyID, pubID)
	return spec.AppendPublicKeyDataTLV(out, pubData), apdu.SWSuccess, o
}

// freshID returns an ID of the same length unused by private and public keys.
func freshID(st *state, like []byte) hexBytes {
	id := append(hexBytes(nil), like...)
	for {
		id[len(id)-1] += 0x10
		if st.find(spec.KindPrivateKey, id) == nil && st.find(spec.KindPublicKey, id) == nil {
			return id
		}
	}
}

func (c *Card) readPublicKey(cmd apdu.Command) ([]byte, apdu.StatusWord) {
	if cmd.P1 != 0 || cmd.P2 != 0 {
		return nil, apdu.SWIncorrectP1P2
	}
	f, sw := parseFields(cmd.Data, spec.TagPublicKeyID, spec.TagPublicKeyLabel)
	if sw != apdu.SWSuccess {
		return nil, sw
	}
	o, sw := c.ref(f, spec.KindPublicKey)
	if sw != apdu.SWSuccess {
		return nil, sw
	}
	if !o.active() || o.Access&spec.AccessRead == 0 {
		return nil, apdu.SWConditionsNotSatisfied
	}
	d, err := publicKeyData(o, c.st.Variant.RSAPublicKeyDER)
	if err != nil {
		return nil, apdu.SWIntegrity
	}
	return spec.AppendPublicKeyDataTLV(nil, d), apdu.SWSuccess
}

func (c *Card) computeDH(cmd apdu.Command) ([]byte, apdu.StatusWord) {
	if cmd.P1 != 0 || cmd.P2 != 0 {
		return nil, apdu.SWIncorrectP1P2
	}
	f, sw := parseFields(cmd.Data, spec.TagPrivateKeyID, spec.TagPrivateKeyLabel, spec.TagPublicKeyID, spec.TagPublicKeyLabel)
	if sw != apdu.SWSuccess {
		return nil, sw
	}
	priv, sw := c.ref(f, spec.KindPrivateKey)
	if sw != apdu.SWSuccess {
		return nil, sw
	}
	pub, sw := c.ref(f, spec.KindPublicKey)
	if sw != apdu.SWSuccess {
		return nil, sw
	}
	if !priv.active() || priv.Funcs&spec.FuncKeyAgreement == 0 || !pub.active() {
		return nil, apdu.SWConditionsNotSatisfied
	}
	// Both keys on the same curve: ECKA of a brainpool key with a P-256
	// point (or of an RSA key) is refused.
	kind := spec.KindOfKeyType(priv.KeyType)
	if keys.Curve(kind) == nil || spec.KindOfKeyType(pub.KeyType) != kind {
		return nil, apdu.SWConditionsNotSatisfied
	}
	z, err := keys.SharedSecret(kind, priv.Value, pub.Value)
	if err != nil {
		return nil, apdu.SWIntegrity
	}
	return z, apdu.SWSuccess
}

// secret returns the secret of a PRF/HKDF command: a secret key object
// (86/76) with the key-derivation function, or a value given in D1.
func (c *Card) secret(f fields, kdf byte) ([]byte, apdu.StatusWord) {
	v, inline := f[spec.TagSecret]
	_, byID := f[spec.TagSecretKeyID]
	_, byLabel := f[spec.TagSecretKeyLabel]
	if inline {
		if byID || byLabel || len(v) == 0 {
			return nil, apdu.SWIncorrectData
		}
		return v, apdu.SWSuccess
	}
	o, sw := c.ref(f, spec.KindSecretKey)
	if sw != apdu.SWSuccess {
		return nil, sw
	}
	if !o.active() || o.Funcs&spec.FuncKeyDerivation == 0 || o.KDF&kdf == 0 {
		return nil, apdu.SWConditionsNotSatisfied
	}
	return o.Value, apdu.SWSuccess
}

func (c *Card) computePRF(cmd apdu.Command) ([]byte, apdu.StatusWord) {
	if cmd.P1 != 0 || cmd.P2 != 0 {
		return nil, apdu.SWIncorrectP1P2
	}
	f, sw := parseFields(cmd.Data, spec.TagSecretKeyID, spec.TagSecretKeyLabel, spec.TagSecret, spec.TagLabelSeed, spec.TagOutputLength)
	if sw != apdu.SWSuccess {
		return nil, sw
	}
	ls, ok := f[spec.TagLabelSeed]
	n := f[spec.TagOutputLength]
	if !ok || len(n) != 1 || n[0] == 0 {
		return nil, apdu.SWIncorrectData
	}
	secret, sw := c.secret(f, spec.KDFPRFSHA256)
	if sw != apdu.SWSuccess {
		return nil, sw
	}
	return prfSHA256(secret, ls, int(n[0])), apdu.SWSuccess
}

// prfSHA256 is the TLS 1.2 PRF (RFC 5246 section 5) with P_SHA256; ls is
// the label followed by the seed.
func prfSHA256(secret, ls []byte, n int) []byte {
	out := make([]byte, 0, n+32)
	mac := hmac.New(sha256.New, secret)
	mac.Write(ls)
	a := mac.Sum(nil) // A(1)
	for len(out) < n {
		mac.Reset()
		mac.Write(a)
		mac.Write(ls)
		out = mac.Sum(out)
		mac.Reset()
		mac.Write(a)
		a = mac.Sum(a[:0])
	}
	return out[:n]
}

func (c *Card) computeHKDF(cmd apdu.Command) ([]byte, apdu.StatusWord) {
	if cmd.P1 != 0 || cmd.P2 != 0 {
		return nil, apdu.SWIncorrectP1P2
	}
	f, sw := parseFields(cmd.Data, spec.TagSecretKeyID, spec.TagSecretKeyLabel, spec.TagSecret, spec.TagSalt,
		spec.TagHashAlgs, spec.TagOutputLength, spec.TagLabelSeed)
	if sw != apdu.SWSuccess {
		return nil, sw
	}
	hv := f[spec.TagHashAlgs]
	if len(hv) != 2 {
		return nil, apdu.SWIncorrectData
	}
	hf := hashFor(uint16(hv[0])<<8 | uint16(hv[1]))
	if hf == nil {
		return nil, apdu.SWIncorrectData
	}
	ikm, sw := c.secret(f, spec.KDFHKDF)
	if sw != apdu.SWSuccess {
		return nil, sw
	}
	prk, err := hkdf.Extract(hf, ikm, f[spec.TagSalt])
	if err != nil {
		return nil, apdu.SWUnknown
	}
	n, expand := f[spec.TagOutputLength]
	if !expand {
		if _, info := f[spec.TagLabelSeed]; info {
			return nil, apdu.SWIncorrectData
		}
		return prk, apdu.SWSuccess
	}
	if len(n) != 1 || n[0] == 0 {
		return nil, apdu.SWIncorrectData
	}
	out, err := hkdf.Expand(hf, prk, string(f[spec.TagLabelSeed]), int(n[0]))
	if err != nil {
		return nil, apdu.SWIncorrectData
	}
	return out, apdu.SWSuccess
}
