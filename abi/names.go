package abi

// ValType is a WebAssembly value type, encoded as in the binary format (and as
// wazero's api.ValueType), so the host can compare signatures directly.
type ValType = byte

// The two value types the ABI uses: pointers, lengths, kinds, codes and
// statuses are i32; connection ids and times are i64.
const (
	I32 ValType = 0x7f
	I64 ValType = 0x7e
)

// Signature is the WebAssembly type of one export or import.
type Signature struct {
	Params  []ValType
	Results []ValType
}

// Names of the functions a plugin exports. MemoryExport, ExportVersion and
// ExportMessage are required; the other handlers are optional and have the
// documented default when absent.
const (
	MemoryExport = "memory"

	// ExportVersion () -> i32: returns Version. The marker that makes a module
	// a torpor plugin.
	ExportVersion = "torpor_abi_version"
	// ExportConnect (conn i64, info_len i32) -> i32: a client asks to connect.
	// The request info (pairs encoding, keys RequestInfo*) is the event data.
	// Returns Accept or an HTTP status 400–599. Absent: every connect is accepted.
	ExportConnect = "torpor_on_connect"
	// ExportMessage (conn i64, kind i32, len i32) -> i32: a frame arrived; its
	// payload is the event data. Returns 0, or non-zero to fail the event.
	ExportMessage = "torpor_on_message"
	// ExportClose (conn i64, code i32, reason_len i32) -> i32: a connection
	// closed; the reason is the event data. The connection can no longer be sent to.
	ExportClose = "torpor_on_close"
	// ExportAlarm (retry i32) -> i32: the object's alarm fired; retry counts
	// earlier failed attempts of the same alarm.
	ExportAlarm = "torpor_on_alarm"
	// ExportSnapshot () -> i32: the host is about to hibernate the object; the
	// guest passes its in-memory state to reply.
	ExportSnapshot = "torpor_snapshot"
	// ExportRestore (len i32) -> i32: a fresh instance wakes; the latest
	// snapshot is the event data (len may be 0: no snapshot yet).
	ExportRestore = "torpor_restore"
	// ExportHandlers () -> i32 (since v1.1): which of the optional handlers
	// the guest exports it really implements, as Handler* bits. An SDK
	// exports every handler whatever the plugin defines; this tells the
	// host which it may skip, so that, say, a close reaching a hibernated
	// object that ignores closes does not wake it. Absent: every exported
	// handler is implemented.
	ExportHandlers = "torpor_handlers"

	// ExportInitialize is the WASI reactor initialiser; the host calls it once
	// per instance before anything else when it is exported.
	ExportInitialize = "_initialize"
)

// Exports lists every handler export with its signature.
var Exports = map[string]Signature{
	ExportVersion:  {nil, []ValType{I32}},
	ExportConnect:  {[]ValType{I64, I32}, []ValType{I32}},
	ExportMessage:  {[]ValType{I64, I32, I32}, []ValType{I32}},
	ExportClose:    {[]ValType{I64, I32, I32}, []ValType{I32}},
	ExportAlarm:    {[]ValType{I32}, []ValType{I32}},
	ExportSnapshot: {nil, []ValType{I32}},
	ExportRestore:  {[]ValType{I32}, []ValType{I32}},
	ExportHandlers: {nil, []ValType{I32}},
}

// Bits of the value ExportHandlers returns. A bit is only meaningful for a
// handler the guest exports; HandlerState covers snapshot and restore
// together (a stateless guest has neither).
const (
	HandlerConnect uint32 = 1 << iota
	HandlerClose
	HandlerAlarm
	HandlerState
)

// RequiredExports are the function exports every plugin must have.
var RequiredExports = []string{ExportVersion, ExportMessage}

// Names of the host imports, all in ImportModule. Every import returns a
// Status (i32). Arguments named ptr/len are a byte range in guest memory;
// buf/cap/len_out is an output range plus a pointer to a u32 that receives the
// full result length (see BufferTooSmall).
const (
	// ImportEventRead (ptr, len) copies the first len bytes of the current
	// event's data to ptr.
	ImportEventRead = "event_read"
	// ImportReply (ptr, len) sets the current event's reply: the reject reason
	// in connect, the state in snapshot.
	ImportReply = "reply"
	// ImportSend (conn i64, kind, ptr, len) queues a frame to one connection.
	ImportSend = "send"
	// ImportBroadcast (kind, ptr, len, except i64, tag_ptr, tag_len) queues a
	// frame to every connection of the object, except one (NoConn for none),
	// only those carrying the tag when tag_len > 0.
	ImportBroadcast = "broadcast"
	// ImportClose (conn i64, code, reason_ptr, reason_len) closes a connection.
	ImportClose = "close"
	// ImportConnSetTags (conn i64, ptr, len) sets the tags (list encoding) of the
	// connection being connected; only valid in its connect event.
	ImportConnSetTags = "conn_set_tags"
	// ImportConnList (tag_ptr, tag_len, buf, cap, len_out) writes the ids of
	// the object's connections (carrying the tag, if given) as u64 LE.
	ImportConnList = "conn_list"
	// ImportAttachmentGet (conn i64, buf, cap, len_out) reads a connection's attachment.
	ImportAttachmentGet = "attachment_get"
	// ImportAttachmentSet (conn i64, ptr, len) replaces a connection's attachment.
	ImportAttachmentSet = "attachment_set"
	// ImportStorageGet (key_ptr, key_len, buf, cap, len_out) reads a value.
	ImportStorageGet = "storage_get"
	// ImportStoragePut (key_ptr, key_len, val_ptr, val_len) writes a value.
	ImportStoragePut = "storage_put"
	// ImportStorageDelete (key_ptr, key_len) deletes a key; NotFound if absent.
	ImportStorageDelete = "storage_delete"
	// ImportStorageList (prefix_ptr, prefix_len, after_ptr, after_len, limit,
	// buf, cap, len_out) lists keys with the prefix, in byte order, strictly
	// after the given key, at most limit entries (at most 256; 0: all, if
	// there are no more than 256), in the pairs encoding.
	ImportStorageList = "storage_list"
	// ImportAlarmSet (at_ms i64) sets the alarm to a Unix time in milliseconds.
	ImportAlarmSet = "alarm_set"
	// ImportAlarmGet (out_ptr) writes the alarm time (i64 LE); NotFound if none.
	ImportAlarmGet = "alarm_get"
	// ImportAlarmCancel () removes the alarm.
	ImportAlarmCancel = "alarm_cancel"
	// ImportAutoResponseSet (req_ptr, req_len, resp_ptr, resp_len) makes the
	// host answer a text frame equal to req with resp without waking the
	// object; resp_len 0 removes the pair.
	ImportAutoResponseSet = "auto_response_set"
	// ImportLog (level, ptr, len) writes a line to the host log, tagged with
	// the object.
	ImportLog = "log"
	// ImportObjectID (buf, cap, len_out) writes the object's id, "plugin/name".
	ImportObjectID = "object_id"
)

var (
	i32x1 = []ValType{I32}
	i32x2 = []ValType{I32, I32}
)

// Imports lists every host import with its signature.
var Imports = map[string]Signature{
	ImportEventRead:       {i32x2, i32x1},
	ImportReply:           {i32x2, i32x1},
	ImportSend:            {[]ValType{I64, I32, I32, I32}, i32x1},
	ImportBroadcast:       {[]ValType{I32, I32, I32, I64, I32, I32}, i32x1},
	ImportClose:           {[]ValType{I64, I32, I32, I32}, i32x1},
	ImportConnSetTags:     {[]ValType{I64, I32, I32}, i32x1},
	ImportConnList:        {[]ValType{I32, I32, I32, I32, I32}, i32x1},
	ImportAttachmentGet:   {[]ValType{I64, I32, I32, I32}, i32x1},
	ImportAttachmentSet:   {[]ValType{I64, I32, I32}, i32x1},
	ImportStorageGet:      {[]ValType{I32, I32, I32, I32, I32}, i32x1},
	ImportStoragePut:      {[]ValType{I32, I32, I32, I32}, i32x1},
	ImportStorageDelete:   {i32x2, i32x1},
	ImportStorageList:     {[]ValType{I32, I32, I32, I32, I32, I32, I32, I32}, i32x1},
	ImportAlarmSet:        {[]ValType{I64}, i32x1},
	ImportAlarmGet:        {i32x1, i32x1},
	ImportAlarmCancel:     {nil, i32x1},
	ImportAutoResponseSet: {[]ValType{I32, I32, I32, I32}, i32x1},
	ImportLog:             {[]ValType{I32, I32, I32}, i32x1},
	ImportObjectID:        {[]ValType{I32, I32, I32}, i32x1},
}

// Keys of the request info pairs passed to on_connect. Header names follow,
// lower-cased, one pair per value.
const (
	RequestInfoPath   = ":path"
	RequestInfoQuery  = ":query"
	RequestInfoRemote = ":remote"
	RequestInfoObject = ":object"
)
