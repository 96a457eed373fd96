package secretbox

import (
	"bytes"
	"errors"
	"testing"
)

func TestSealOpen(t *testing.T) {
	b, err := New(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := b.Seal([]byte("shpat_secret"), []byte("a.myshopify.com"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("shpat_secret")) {
		t.Fatal("plaintext visible in ciphertext")
	}
	again, _ := b.Seal([]byte("shpat_secret"), []byte("a.myshopify.com"))
	if bytes.Equal(sealed, again) {
		t.Fatal("two seals of one value must differ (random nonce)")
	}
	got, err := b.Open(sealed, []byte("a.myshopify.com"))
	if err != nil || string(got) != "shpat_secret" {
		t.Fatalf("open: %q %v", got, err)
	}
	if _, err := b.Open(sealed, []byte("b.myshopify.com")); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("other shop's aad must fail, got %v", err)
	}
	tampered := append([]byte{}, sealed...)
	tampered[len(tampered)-1] ^= 1
	if _, err := b.Open(tampered, []byte("a.myshopify.com")); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("tampered must fail, got %v", err)
	}
	other, _ := New(bytes.Repeat([]byte{8}, 32))
	if _, err := other.Open(sealed, []byte("a.myshopify.com")); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("other key must fail, got %v", err)
	}
	if _, err := b.Open([]byte{1, 2}, nil); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("short input must fail, got %v", err)
	}
	if _, err := New([]byte("short")); err == nil {
		t.Fatal("short key accepted")
	}
}
