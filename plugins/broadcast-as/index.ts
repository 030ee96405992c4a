// broadcast-as is the AssemblyScript twin of plugins/broadcast, the smallest
// torpor room: every frame a client sends, text or binary, goes verbatim and
// with the same kind to every connection of the room, the sender included.
// It keeps no state and accepts every client.
import { register, Plugin, NoState, Conn, Message, broadcastFrame, check } from "../../sdk/assemblyscript/assembly/index";
export * from "../../sdk/assemblyscript/assembly/exports";

register<NoState>({
  message: (s: NoState, c: Conn, m: Message): void => {
    check(broadcastFrame(m.kind, m.data), "broadcast");
  },
} as Plugin<NoState>);
