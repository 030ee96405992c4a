//go:build !wasip1

package sdk

import "github.com/torpor-dev/torpor/abi"

// Outside wasip1 there is no host: every call fails with ErrNoHost, so plugins
// and the SDK build, vet and unit-test natively.

func hostEventRead([]byte) error                                { return ErrNoHost }
func hostReply([]byte) error                                    { return ErrNoHost }
func hostSend(uint64, abi.FrameKind, []byte) error              { return ErrNoHost }
func hostBroadcast(abi.FrameKind, []byte, uint64, string) error { return ErrNoHost }
func hostClose(uint64, uint32, string) error                    { return ErrNoHost }
func hostConnSetTags(uint64, []byte) error                      { return ErrNoHost }
func hostConnList(string, []byte) (int, error)                  { return 0, ErrNoHost }
func hostAttachmentGet(uint64, []byte) (int, error)             { return 0, ErrNoHost }
func hostAttachmentSet(uint64, []byte) error                    { return ErrNoHost }
func hostStorageGet(string, []byte) (int, error)                { return 0, ErrNoHost }
func hostStoragePut(string, []byte) error                       { return ErrNoHost }
func hostStorageDelete(string) error                            { return ErrNoHost }
func hostStorageList(string, string, uint32, []byte) (int, error) {
	return 0, ErrNoHost
}
func hostAlarmSet(int64) error                 { return ErrNoHost }
func hostAlarmGet() (int64, error)             { return 0, ErrNoHost }
func hostAlarmCancel() error                   { return ErrNoHost }
func hostAutoResponseSet(string, string) error { return ErrNoHost }
func hostLog(abi.LogLevel, string) error       { return ErrNoHost }
func hostObjectID([]byte) (int, error)         { return 0, ErrNoHost }
