//go:build !linux

package engine

import "github.com/torpor-dev/torpor/host/internal/datamerge"

// imageFile is nothing where memory is not mapped: instances copy the image.
type imageFile struct{}

func newImageFile(datamerge.Image) imageFile { return imageFile{} }

func (imageFile) close() {}
