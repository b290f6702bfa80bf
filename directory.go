package iotsafe

import (
	"bytes"
	"fmt"

	"github.com/go-iotsafe/iotsafe/spec"
)

// Directory is what an Applet has learnt of its applet store that a host
// may keep between processes: the card's own answers to Get Data
// (application information, object list) and Read Public Key, as they came
// from the card. It holds nothing secret. A host that keeps one (the
// PKCS#11 library's directory cache) hands it to LoadDirectory in its next
// process, which then needs no command for these; it must decide itself
// when the copy is stale, since IoT SAFE gives no change counter.
type Directory struct {
	// AID is the applet the answers came from.
	AID []byte
	// AppInfo is the answer to Get Data, application information; nil
	// when it was not read.
	AppInfo []byte
	// ObjectList is the object list (every part of a 6300 continuation,
	// joined); nil when it was not read.
	ObjectList []byte
	// PublicKeys holds answers to Read Public Key by the public key object
	// they name, as the Applet keys its cache; only opaque to callers.
	PublicKeys map[string][]byte
}

// Directory returns the card answers the Applet holds now (see Directory).
func (a *Applet) Directory() Directory {
	a.mu.Lock()
	defer a.mu.Unlock()
	d := Directory{AID: bytes.Clone(a.aid), PublicKeys: map[string][]byte{}}
	if a.info != nil {
		d.AppInfo = bytes.Clone(a.infoRaw)
	}
	if a.objects != nil {
		d.ObjectList = bytes.Clone(a.objectsRaw)
	}
	for k, raw := range a.pubkeysRaw {
		if _, ok := a.pubkeys[k]; ok {
			d.PublicKeys[k] = bytes.Clone(raw)
		}
	}
	return d
}

// LoadDirectory fills the Applet's caches from d, a Directory of an
// earlier process, decoding each answer as if the card had just sent it.
// It refuses d, changing nothing, when d names another applet or an answer
// does not decode. What the Applet has read from the card already is kept.
func (a *Applet) LoadDirectory(d Directory) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !bytes.Equal(d.AID, a.aid) {
		return fmt.Errorf("iotsafe: directory of applet %X, not of the selected %X", d.AID, a.aid)
	}
	var info *AppInfo
	if d.AppInfo != nil {
		var err error
		if info, err = parseAppInfo(d.AppInfo); err != nil {
			return fmt.Errorf("iotsafe: directory: %w", err)
		}
	}
	var objs []Object
	if d.ObjectList != nil {
		var err error
		if objs, err = ParseObjectList(d.ObjectList); err != nil {
			return fmt.Errorf("iotsafe: directory: %w", err)
		}
		if objs == nil {
			objs = []Object{}
		}
	}
	pubs := map[string]spec.PublicKeyData{}
	for k, raw := range d.PublicKeys {
		p, err := spec.ParsePublicKeyData(raw)
		if err != nil {
			return fmt.Errorf("iotsafe: directory: public key %s: %w", k, err)
		}
		pubs[k] = spec.PublicKeyData{Point: bytes.Clone(p.Point), N: bytes.Clone(p.N), E: bytes.Clone(p.E)}
	}
	if info != nil && a.info == nil {
		a.info, a.infoRaw = info, bytes.Clone(d.AppInfo)
	}
	if objs != nil && a.objects == nil {
		a.objects, a.objectsRaw = objs, bytes.Clone(d.ObjectList)
	}
	for k, p := range pubs {
		if _, ok := a.pubkeys[k]; !ok {
			a.pubkeys[k], a.pubkeysRaw[k] = p, bytes.Clone(d.PublicKeys[k])
		}
	}
	return nil
}
