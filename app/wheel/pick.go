package wheel

import (
	crand "crypto/rand"
	"encoding/binary"
	"math/rand/v2"
)

// Pick chooses a slice with probability proportional to its weight and
// returns its index, or -1 when no slice has a positive weight. The caller
// owns the randomness: production spins use CryptoRand, tests a fixed seed.
func Pick(rng *rand.Rand, slices []Slice) int {
	total := 0.0
	for _, s := range slices {
		if s.Weight > 0 {
			total += s.Weight
		}
	}
	if total <= 0 {
		return -1
	}
	x := rng.Float64() * total
	last := -1
	for i, s := range slices {
		if s.Weight <= 0 {
			continue
		}
		if x < s.Weight {
			return i
		}
		x -= s.Weight
		last = i
	}
	// Floating-point rounding can leave x a hair above the last weight.
	return last
}

// eligible is the slices a spin may land on: every slice, or once the
// prize cap is reached only the no-prize ones (the others get weight 0, so
// indexes still match the wheel the shopper sees).
func eligible(slices []Slice, capReached bool) []Slice {
	if !capReached {
		return slices
	}
	out := make([]Slice, len(slices))
	for i, s := range slices {
		out[i] = s
		if s.Wins() {
			out[i].Weight = 0
		}
	}
	return out
}

// cryptoSource is a rand.Source reading the operating system's CSPRNG:
// spins decide money, so their outcome must not be predictable from
// earlier ones. It is safe for concurrent use.
type cryptoSource struct{}

func (cryptoSource) Uint64() uint64 {
	var b [8]byte
	if _, err := crand.Read(b[:]); err != nil {
		panic("wheel: crypto/rand: " + err.Error()) // crypto/rand.Read never fails on supported platforms
	}
	return binary.LittleEndian.Uint64(b[:])
}

// CryptoRand is the production randomness for spins.
func CryptoRand() *rand.Rand { return rand.New(cryptoSource{}) }
