package estserver

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// AdminCertificate is one certificate in the admin listing.
type AdminCertificate struct {
	Serial     string    `json:"serial"` // decimal
	CommonName string    `json:"common_name"`
	NotAfter   time.Time `json:"not_after"`
	Revoked    bool      `json:"revoked"`
}

// admin serves /admin/ (Server.AdminToken): GET /admin/certificates lists
// what the CA issued, POST /admin/revoke revokes serial=N (decimal, or hex
// with 0x), POST /admin/crl signs a new CRL now. Every request needs
// "Authorization: Bearer TOKEN"; failures are throttled per client address
// like bootstrap guesses.
func (s *Server) admin(w http.ResponseWriter, r *http.Request, log *slog.Logger) {
	if s.AdminToken == "" {
		http.NotFound(w, r)
		return
	}
	if wait := s.throttled(r); wait > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait/time.Second)+1))
		http.Error(w, "too many failed authentications; retry later", http.StatusTooManyRequests)
		return
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	ok = ok && subtle.ConstantTimeCompare([]byte(tok), []byte(s.AdminToken)) == 1
	s.authResult(r, ok)
	if !ok {
		log.Warn("est: admin request refused: bad or missing token", "remote", r.RemoteAddr, "path", r.URL.Path)
		w.Header().Set("WWW-Authenticate", `Bearer realm="est-admin"`)
		http.Error(w, "admin token required", http.StatusUnauthorized)
		return
	}
	switch {
	case r.URL.Path == "/admin/certificates" && r.Method == http.MethodGet:
		list, err := s.CA.Certificates()
		if err != nil {
			log.Error("est: admin listing failed", "err", err)
			http.Error(w, "the CA's database failed", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(list)
	case r.URL.Path == "/admin/revoke" && r.Method == http.MethodPost:
		if err := r.ParseForm(); err != nil {
			http.Error(w, "cannot read the form", http.StatusBadRequest)
			return
		}
		serial, err := parseSerial(r.PostForm.Get("serial"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if err := s.CA.Revoke(serial); err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		log.Info("est: certificate revoked by the admin", "serial", serial.String(), "remote", r.RemoteAddr)
		fmt.Fprintf(w, "revoked %s\n", serial)
	case r.URL.Path == "/admin/crl" && r.Method == http.MethodPost:
		crl, err := s.CA.RefreshCRL()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/pkix-crl")
		w.Write(crl)
	default:
		http.NotFound(w, r)
	}
}

// parseSerial reads a serial number: decimal, or hexadecimal after 0x.
func parseSerial(s string) (*big.Int, error) {
	s = strings.TrimSpace(s)
	base := 10
	if h, ok := strings.CutPrefix(strings.ToLower(s), "0x"); ok {
		s, base = h, 16
	}
	n, ok := new(big.Int).SetString(s, base)
	if !ok || n.Sign() <= 0 {
		return nil, fmt.Errorf("serial %q is not a positive number (decimal, or hex after 0x)", s)
	}
	return n, nil
}

// Certificates lists what the CA issued, by expiry. A database that
// fails, at once or part way, is an error, never a shorter list.
func (ca *CA) Certificates() ([]AdminCertificate, error) {
	out := []AdminCertificate{}
	rows, err := ca.db.sql.QueryContext(context.Background(), "SELECT serial, cn, not_after, revoked_at FROM certs ORDER BY not_after")
	if err != nil {
		return nil, fmt.Errorf("estserver: listing certificates: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var a AdminCertificate
		var na int64
		var rev sql.NullInt64
		if err := rows.Scan(&a.Serial, &a.CommonName, &na, &rev); err != nil {
			return nil, fmt.Errorf("estserver: listing certificates: %w", err)
		}
		a.NotAfter, a.Revoked = time.Unix(0, na).UTC(), rev.Valid
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("estserver: listing certificates: %w", err)
	}
	return out, nil
}

// RefreshCRL signs a new CRL now (with the next number) and returns it.
func (ca *CA) RefreshCRL() ([]byte, error) {
	ca.crlMu.Lock()
	defer ca.crlMu.Unlock()
	var der []byte
	var num int64
	err := ca.db.tx(context.Background(), func(tx *sql.Tx) error {
		var err error
		der, num, err = ca.records(tx).signCRL(time.Now(), true)
		return err
	})
	if err != nil {
		return nil, err
	}
	ca.crl, ca.crlNum = der, num
	return der, nil
}
