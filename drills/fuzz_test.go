package drills

import (
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad feeds arbitrary bytes to the loader: it must return drills or an
// error, never panic, and every error must name the file.
func FuzzLoad(f *testing.F) {
	for _, pattern := range []string{"examples/*.yaml", "testdata/*.yaml"} {
		files, _ := filepath.Glob(pattern)
		for _, file := range files {
			b, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	f.Add([]byte("a: &a [*a, *a]"))
	f.Add([]byte("spec: {faults: [{type: 1}]}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ds, err := Load("fuzz.yaml", data)
		if err == nil {
			if len(ds) == 0 {
				t.Fatal("no error and no drill")
			}
			for _, d := range ds {
				if verr := d.Validate(); verr != nil {
					t.Fatalf("loaded drill does not validate: %v", verr)
				}
			}
			return
		}
		if ds != nil {
			t.Fatal("drills returned with an error")
		}
		if len(err.Error()) == 0 {
			t.Fatal("empty error message")
		}
	})
}

// TestLoadMutatedExamples is a deterministic complement to FuzzLoad: it
// mutates the shipped examples (byte flips, cuts, inserted YAML syntax) and
// checks the loader's contract on each: drills or an ErrorList, never a
// panic, never both.
func TestLoadMutatedExamples(t *testing.T) {
	files, err := filepath.Glob("examples/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	rng := rand.New(rand.NewPCG(7, 11))
	chars := " \n:-[{&*!|>'\"#\t"
	for i := range 1500 {
		b, err := os.ReadFile(files[rng.IntN(len(files))])
		if err != nil {
			t.Fatal(err)
		}
		for range 1 + rng.IntN(5) {
			j := rng.IntN(len(b))
			switch rng.IntN(3) {
			case 0:
				b[j] = byte(rng.IntN(256))
			case 1:
				b = append(b[:j], b[min(len(b), j+rng.IntN(20)):]...)
			default:
				b = append(b[:j], append([]byte{chars[rng.IntN(len(chars))]}, b[j:]...)...)
			}
			if len(b) == 0 {
				b = []byte("x")
			}
		}
		ds, err := Load("m.yaml", b)
		switch {
		case err == nil && len(ds) == 0:
			t.Fatalf("mutation %d: no error and no drill for:\n%s", i, b)
		case err != nil && ds != nil:
			t.Fatalf("mutation %d: drills returned with an error", i)
		case err != nil:
			var list ErrorList
			if !errors.As(err, &list) {
				t.Fatalf("mutation %d: error is %T, want ErrorList: %v", i, err, err)
			}
		}
	}
}
