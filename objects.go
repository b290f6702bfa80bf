package iotsafe

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/go-iotsafe/iotsafe/apdu"
	"github.com/go-iotsafe/iotsafe/spec"
	"github.com/go-iotsafe/iotsafe/transport"
)

// Ref names an object in the applet store by ID or by label (exactly one).
type Ref struct {
	ID    []byte
	Label string
}

// ByID returns a reference by IoT SAFE ID (1 to 20 bytes).
func ByID(id ...byte) Ref { return Ref{ID: id} }

// ByLabel returns a reference by label (up to 60 bytes).
func ByLabel(label string) Ref { return Ref{Label: label} }

// String returns "ID 01" or "label \"device-key\"".
func (r Ref) String() string {
	if r.Label != "" {
		return fmt.Sprintf("label %q", r.Label)
	}
	return "ID " + strings.ToUpper(hex.EncodeToString(r.ID))
}

func (r Ref) check() error {
	switch {
	case r.Label != "" && r.ID != nil:
		return fmt.Errorf("iotsafe: reference names both ID %X and label %q; give one", r.ID, r.Label)
	case r.Label != "":
		if len(r.Label) > spec.MaxLabelLen {
			return fmt.Errorf("iotsafe: label %q longer than %d bytes", r.Label, spec.MaxLabelLen)
		}
	case len(r.ID) == 0 || len(r.ID) > spec.MaxIDLen:
		return fmt.Errorf("iotsafe: object ID must be 1 to %d bytes, got %d", spec.MaxIDLen, len(r.ID))
	}
	return nil
}

// appendTLV appends the reference as the ID or label TLV of kind k.
func (r Ref) appendTLV(dst []byte, k spec.ObjectKind) []byte {
	if r.Label != "" {
		return apdu.AppendTLV(dst, k.LabelTag(), []byte(r.Label))
	}
	return apdu.AppendTLV(dst, k.IDTag(), r.ID)
}

func (r Ref) key(k spec.ObjectKind) string {
	if r.Label != "" {
		return fmt.Sprintf("%02X/l/%s", byte(k), r.Label)
	}
	return fmt.Sprintf("%02X/i/%X", byte(k), r.ID)
}

func describe(k spec.ObjectKind, r Ref) string { return k.String() + " " + r.String() }

// AppInfo is the applet's application information (Get Data P1=00).
type AppInfo struct {
	Version                                                byte
	AppletID                                               []byte
	MaxFiles, MaxPrivateKeys, MaxPublicKeys, MaxSecretKeys int
	MaxSessions                                            int
	CryptoFunctions                                        byte
	HashAlgorithms                                         uint16
	SignatureAlgorithms, KeyAgreement, KeyDerivation       byte
	// Raw is the answer as the card sent it.
	Raw []byte
}

// Name returns the applet identifier as text when it is printable ASCII
// (trailing NULs and spaces removed), else as upper-case hex.
func (i *AppInfo) Name() string {
	name := strings.TrimRight(string(i.AppletID), "\x00 ")
	for _, r := range name {
		if r < 0x20 || r > 0x7E {
			return strings.ToUpper(hex.EncodeToString(i.AppletID))
		}
	}
	return name
}

// Object is one object of the applet store with its attributes.
type Object struct {
	Kind                spec.ObjectKind
	ID                  []byte
	Label               string
	Access              byte // spec.AccessRead | spec.AccessUpdate
	State               byte // spec.StateActivated or spec.StateDeactivated
	KeyType             byte
	KeyUsage            byte
	CryptoFunctions     byte
	SignatureAlgorithms byte
	HashAlgorithms      uint16
	KeyAgreement        byte
	KeyDerivation       byte
	FileUsage           byte
	FileSize            int
	// Extra holds attributes this package does not know, as sent.
	Extra []apdu.TLV
}

// Active reports whether the object is activated (filled).
func (o *Object) Active() bool { return o.State == spec.StateActivated }

// Ref returns a reference to the object by ID.
func (o *Object) Ref() Ref { return ByID(o.ID...) }

// String describes the object, e.g. `private key 01 "device-key"`.
func (o *Object) String() string {
	s := fmt.Sprintf("%s %X", o.Kind, o.ID)
	if o.Label != "" {
		s += fmt.Sprintf(" %q", o.Label)
	}
	return s
}

func beUint(b []byte) int {
	n := 0
	for _, c := range b {
		n = n<<8 | int(c)
	}
	return n
}

// parseAppInfo decodes application information. Tags are read by TLV, so
// a 1-byte hash field and short applet identifiers are accepted.
func parseAppInfo(b []byte) (*AppInfo, error) {
	tlvs, err := apdu.ParseTLVs(b)
	if err != nil {
		return nil, fmt.Errorf("%w: application information: %w", ErrMalformedResponse, err)
	}
	info := &AppInfo{Raw: bytes.Clone(b)}
	seen := false
	for _, t := range tlvs {
		v := t.Value
		one := func() int {
			if len(v) == 0 {
				return 0
			}
			return int(v[len(v)-1])
		}
		switch t.Tag {
		case spec.TagVersion:
			info.Version, seen = byte(one()), true
		case spec.TagAppletID:
			if len(v) > 32 {
				return nil, malformed("application information", "applet identifier of %d bytes", len(v))
			}
			info.AppletID = bytes.Clone(v)
		case spec.TagMaxFiles:
			info.MaxFiles = one()
		case spec.TagMaxPrivateKeys:
			info.MaxPrivateKeys = one()
		case spec.TagMaxPublicKeys:
			info.MaxPublicKeys = one()
		case spec.TagMaxSecretKeys:
			info.MaxSecretKeys = one()
		case spec.TagAppCryptoFuncs:
			info.CryptoFunctions = byte(one())
		case spec.TagHashAlgs:
			info.HashAlgorithms = uint16(beUint(v))
		case spec.TagSigAlgs:
			info.SignatureAlgorithms = byte(one())
		case spec.TagAppKeyAgreement:
			info.KeyAgreement = byte(one())
		case spec.TagKeyDerivation:
			info.KeyDerivation = byte(one())
		case spec.TagMaxSessions:
			info.MaxSessions = one()
		}
	}
	if !seen {
		return nil, malformed("application information", "no version tag (10) in %d bytes", len(b))
	}
	return info, nil
}

// ParseObjectList decodes an object list (the answer of Get Data P1=01, or
// of P1=C1..C4). It accepts one object per outer tag and several objects
// grouped in one outer tag (a new object starts at an ID tag when the
// current one has an ID, or at a label tag when it has an ID or label).
// When wrapperless is given, b may also be the inner TLVs of one object of
// that kind without its outer tag.
func ParseObjectList(b []byte) ([]Object, error) { return parseObjects(b, 0) }

func parseObjects(b []byte, wrapperless spec.ObjectKind) ([]Object, error) {
	if wrapperless != 0 && len(b) > 0 && apdu.Tag(b[0]) != apdu.Tag(wrapperless) {
		o, err := parseGroup(b, wrapperless)
		if err != nil {
			return nil, err
		}
		return o, nil
	}
	outer, err := apdu.ParseTLVs(b)
	if err != nil {
		return nil, fmt.Errorf("%w: object list: %w", ErrMalformedResponse, err)
	}
	var out []Object
	for _, t := range outer {
		k := spec.ObjectKind(t.Tag)
		switch k {
		case spec.KindPrivateKey, spec.KindPublicKey, spec.KindFile, spec.KindSecretKey:
		default:
			return nil, malformed("object list", "unexpected outer tag %X", uint32(t.Tag))
		}
		objs, err := parseGroup(t.Value, k)
		if err != nil {
			return nil, err
		}
		out = append(out, objs...)
	}
	return out, nil
}

func parseGroup(b []byte, k spec.ObjectKind) ([]Object, error) {
	inner, err := apdu.ParseTLVs(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %s information: %w", ErrMalformedResponse, k, err)
	}
	var out []Object
	var cur *Object
	hasLabel := false
	flush := func() error {
		if cur == nil {
			return nil
		}
		if len(cur.ID) == 0 {
			return malformed("object list", "%s without an ID", k)
		}
		out = append(out, *cur)
		cur, hasLabel = nil, false
		return nil
	}
	for _, t := range inner {
		switch t.Tag {
		case k.LabelTag():
			if cur != nil && (len(cur.ID) > 0 || hasLabel) {
				if err := flush(); err != nil {
					return nil, err
				}
			}
		case k.IDTag():
			if cur != nil && len(cur.ID) > 0 {
				if err := flush(); err != nil {
					return nil, err
				}
			}
		}
		if cur == nil {
			cur = &Object{Kind: k}
		}
		v := t.Value
		last := func() byte {
			if len(v) == 0 {
				return 0
			}
			return v[len(v)-1]
		}
		switch t.Tag {
		case k.LabelTag():
			if len(v) > spec.MaxLabelLen {
				return nil, malformed("object list", "label of %d bytes", len(v))
			}
			cur.Label, hasLabel = string(v), true
		case k.IDTag():
			if len(v) == 0 || len(v) > spec.MaxIDLen {
				return nil, malformed("object list", "ID of %d bytes", len(v))
			}
			cur.ID = bytes.Clone(v)
		case spec.TagAccess:
			cur.Access = last()
		case spec.TagObjectState:
			cur.State = last()
		case spec.TagKeyType:
			cur.KeyType = last()
		case spec.TagKeyUsage:
			cur.KeyUsage = last()
		case spec.TagObjCryptoFuncs:
			cur.CryptoFunctions = last()
		case spec.TagSigAlgs:
			cur.SignatureAlgorithms = last()
		case spec.TagHashAlgs:
			cur.HashAlgorithms = uint16(beUint(v))
		case spec.TagObjKeyAgreement:
			cur.KeyAgreement = last()
		case spec.TagKeyDerivation:
			cur.KeyDerivation = last()
		case spec.TagFileUsage:
			cur.FileUsage = last()
		case spec.TagFileSize:
			if len(v) == 0 || len(v) > 4 {
				return nil, malformed("file information", "file size of %d bytes", len(v))
			}
			cur.FileSize = beUint(v)
		default:
			cur.Extra = append(cur.Extra, apdu.TLV{Tag: t.Tag, Value: bytes.Clone(v)})
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return out, nil
}

// ApplicationInfo returns the applet's application information (cached).
func (a *Applet) ApplicationInfo(ctx context.Context) (*AppInfo, error) {
	var info *AppInfo
	err := a.do(ctx, func() error {
		var err error
		info, err = a.appInfo(ctx)
		return err
	})
	return info, err
}

func (a *Applet) appInfo(ctx context.Context) (*AppInfo, error) {
	if a.info != nil {
		return a.info, nil
	}
	resp, err := a.command(ctx, "get application information", "", apdu.Command{INS: spec.InsGetData, P1: spec.GetDataApplication, Ne: 256})
	if err != nil {
		return nil, err
	}
	info, err := parseAppInfo(resp.Data)
	if err != nil {
		return nil, err
	}
	a.info, a.infoRaw = info, bytes.Clone(resp.Data)
	return info, nil
}

// Objects returns every object of the applet store (cached).
func (a *Applet) Objects(ctx context.Context) ([]Object, error) {
	var objs []Object
	err := a.do(ctx, func() error {
		var err error
		objs, err = a.objectList(ctx)
		return err
	})
	return append([]Object(nil), objs...), err
}

// maxObjectListParts bounds the 6300 continuation of the object list.
const maxObjectListParts = 256

func (a *Applet) objectList(ctx context.Context) ([]Object, error) {
	if a.objects != nil {
		return a.objects, nil
	}
	var all []byte
	p2 := byte(0)
	for part := 0; ; part++ {
		if part >= maxObjectListParts {
			return nil, malformed("get object list", "card still answers 6300 after %d parts", part)
		}
		resp, err := a.exchange(ctx, apdu.Command{INS: spec.InsGetData, P1: spec.GetDataObjectList, P2: p2, Ne: 256}, true)
		if err != nil {
			return nil, fmt.Errorf("iotsafe: get object list: %w", err)
		}
		all = append(all, resp.Data...)
		if resp.SW == apdu.SWMoreData {
			p2 = 0x01
			continue
		}
		if !resp.SW.OK() {
			return nil, &CardError{Op: "get object list", INS: spec.InsGetData, SW: resp.SW}
		}
		break
	}
	objs, err := ParseObjectList(all)
	if err != nil {
		return nil, err
	}
	if objs == nil {
		objs = []Object{}
	}
	a.objects, a.objectsRaw = objs, all
	return objs, nil
}

// ObjectInfo asks the card for one object's information (Get Data
// P1=C1..C4). The answer may come with or without its outer tag.
func (a *Applet) ObjectInfo(ctx context.Context, kind spec.ObjectKind, ref Ref) (*Object, error) {
	if err := ref.check(); err != nil {
		return nil, err
	}
	var obj *Object
	err := a.do(ctx, func() error {
		var err error
		obj, err = a.objectInfo(ctx, kind, ref)
		return err
	})
	return obj, err
}

func (a *Applet) objectInfo(ctx context.Context, kind spec.ObjectKind, ref Ref) (*Object, error) {
	op := "get " + kind.String() + " information"
	resp, err := a.command(ctx, op, describe(kind, ref), apdu.Command{INS: spec.InsGetData, P1: byte(kind), Data: ref.appendTLV(nil, kind), Ne: 256})
	if err != nil {
		return nil, err
	}
	objs, err := parseObjects(resp.Data, kind)
	if err != nil {
		return nil, err
	}
	if len(objs) != 1 || objs[0].Kind != kind {
		return nil, malformed(op, "expected one %s, got %d objects", kind, len(objs))
	}
	return &objs[0], nil
}

// Find returns the object of this kind that ref names, from the cached
// object list; ErrNotFound when there is none.
func (a *Applet) Find(ctx context.Context, kind spec.ObjectKind, ref Ref) (*Object, error) {
	if err := ref.check(); err != nil {
		return nil, err
	}
	var obj *Object
	err := a.do(ctx, func() error {
		var err error
		obj, err = a.find(ctx, kind, ref)
		return err
	})
	return obj, err
}

func (a *Applet) find(ctx context.Context, kind spec.ObjectKind, ref Ref) (*Object, error) {
	objs, err := a.objectList(ctx)
	if err != nil {
		return nil, err
	}
	for i := range objs {
		o := &objs[i]
		if o.Kind == kind && ((ref.Label != "" && o.Label == ref.Label) || (ref.Label == "" && bytes.Equal(o.ID, ref.ID))) {
			c := *o
			return &c, nil
		}
	}
	return nil, fmt.Errorf("%w: %s is not in the applet store", ErrNotFound, describe(kind, ref))
}

// CardPresent reports, without an APDU, whether the card is still there
// and was not reset, when the transport can tell (PC/SC; see
// transport.PresenceReporter): known is false when it cannot, and Poll
// (one APDU) is the way to ask. err wraps ErrCardRemoved or ErrCardReset.
func (a *Applet) CardPresent() (known bool, err error) {
	p, ok := transport.PresenceOf(a.t)
	if !ok {
		return false, nil
	}
	return true, p.CardPresent()
}

// Poll sends one cheap command to the card (Get Data, application
// information, bypassing the cache) so that a pending 63CF is seen now:
// callers that choose credentials from cached card data (a TLS client
// picking its certificate) poll first, and notice through Generation that
// an operator changed the SIM.
func (a *Applet) Poll(ctx context.Context) error {
	return a.do(ctx, func() error {
		resp, err := a.command(ctx, "get application information", "", apdu.Command{INS: spec.InsGetData, P1: spec.GetDataApplication, Ne: 256})
		if err != nil {
			return err
		}
		if info, err := parseAppInfo(resp.Data); err == nil {
			a.info, a.infoRaw = info, bytes.Clone(resp.Data)
		}
		return nil
	})
}
