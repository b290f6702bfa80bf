package iotsafe_test

import (
	"bytes"
	"context"
	"reflect"
	"testing"

	iotsafe "github.com/go-iotsafe/iotsafe"
	"github.com/go-iotsafe/iotsafe/emulator"
	"github.com/go-iotsafe/iotsafe/spec"
)

// countingCard passes APDUs to an emulator and counts them.
type countingCard struct {
	card *emulator.Card
	n    int
}

func (c *countingCard) Transmit(ctx context.Context, cmd []byte) ([]byte, error) {
	c.n++
	return c.card.Transmit(ctx, cmd)
}

func (c *countingCard) Close() error { return nil }

// A Directory taken from one Applet and loaded into another on the same
// card gives the same application information, objects and public keys
// without a command, for every card variant (object lists in parts, grouped
// objects, 3- and 20-byte IDs); one of another applet or with an answer
// that does not decode is refused and changes nothing.
func TestDirectoryRoundTrip(t *testing.T) {
	ctx := context.Background()
	for _, s := range setups {
		t.Run(s.name, func(t *testing.T) {
			a, card := open(t, s.opts)
			info, err := a.ApplicationInfo(ctx)
			if err != nil {
				t.Fatal(err)
			}
			objs, err := a.Objects(ctx)
			if err != nil {
				t.Fatal(err)
			}
			points := map[string][]byte{}
			for _, o := range objs {
				if o.Kind == spec.KindPublicKey && o.Active() {
					d, err := a.ReadPublicKeyData(ctx, iotsafe.ByID(o.ID...))
					if err != nil {
						t.Fatal(err)
					}
					points[string(o.ID)] = append(d.Point, d.N...)
				}
			}
			if len(points) == 0 {
				t.Fatal("no public key on the card")
			}
			dir := a.Directory()

			cc := &countingCard{card: card}
			b, err := iotsafe.Open(ctx, cc, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			bad := dir
			bad.ObjectList = append([]byte{0xC1, 0xFF}, dir.ObjectList...)
			if err := b.LoadDirectory(bad); err == nil {
				t.Fatal("a directory with a malformed object list was loaded")
			}
			other := dir
			other.AID = []byte{0xA0, 0, 0, 0, 0x01}
			if err := b.LoadDirectory(other); err == nil {
				t.Fatal("a directory of another applet was loaded")
			}
			if d := b.Directory(); d.AppInfo != nil || d.ObjectList != nil || len(d.PublicKeys) != 0 {
				t.Fatal("a refused directory changed the applet's caches")
			}
			if err := b.LoadDirectory(dir); err != nil {
				t.Fatal(err)
			}
			n := cc.n
			binfo, err := b.ApplicationInfo(ctx)
			if err != nil || !reflect.DeepEqual(binfo, info) {
				t.Fatalf("application information from the directory: %+v (%v), card %+v", binfo, err, info)
			}
			bobjs, err := b.Objects(ctx)
			if err != nil || !reflect.DeepEqual(bobjs, objs) {
				t.Fatalf("objects from the directory differ from the card's (%v):\n%+v\n%+v", err, bobjs, objs)
			}
			for id, p := range points {
				d, err := b.ReadPublicKeyData(ctx, iotsafe.ByID([]byte(id)...))
				if err != nil || !bytes.Equal(append(d.Point, d.N...), p) {
					t.Fatalf("public key %X from the directory differs (%v)", id, err)
				}
			}
			if cc.n != n {
				t.Fatalf("%d APDUs for what the directory holds, want 0", cc.n-n)
			}
			// Refresh forgets it all: nothing stale is handed on.
			b.Refresh()
			if d := b.Directory(); d.AppInfo != nil || d.ObjectList != nil || len(d.PublicKeys) != 0 {
				t.Fatal("Directory after Refresh still holds answers")
			}
			if _, err := b.Objects(ctx); err != nil || cc.n == n {
				t.Fatalf("after Refresh the object list was not read from the card (%v)", err)
			}
		})
	}
}
