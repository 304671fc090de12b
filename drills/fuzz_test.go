package drills

import (
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
