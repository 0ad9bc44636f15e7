/**
 * List replies whose items go out as bytes encoded once per object.
 *
 * Why: kubelet lists every pod and container each second (its relist), and
 * encoding a 1000-container ListContainers reply with @bufbuild/protobuf's
 * reflective encoder took ~19 ms of CPU per call, nearly all of it the same
 * bytes as the second before: ids, metadata, images, labels and annotations
 * never change after creation. Only an item's state does. So each item's
 * unchanging fields are encoded once (cached by the object they come from)
 * and the state is appended as one more field (protobuf lets fields come in
 * any order, and a field that appears once is just that field); the same
 * reply then costs ~0.6 ms.
 *
 * The items ride in the reply's unknown fields, which @bufbuild/protobuf
 * writes out verbatim (toBinary's writeUnknownFields, on by default, as
 * connect uses it): on the wire they are exactly the repeated field, and any
 * reader decodes them as such. Nothing in the shim reads these replies back.
 */
import { create } from "@bufbuild/protobuf";
import type { DescMessage, Message, MessageShape } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";

/** An item: its unchanging fields, encoded once, and one enum field that changes. */
export interface EncodedItem {
  fixed: Uint8Array;
  /** The enum's field number and value (0 is proto3's default and is left out). */
  enumField: number;
  enumValue: number;
}

const cache = new WeakMap<object, Uint8Array>();

/**
 * The bytes of `encode()`, computed the first time `key` is seen: `key` must
 * be an object that lives exactly as long as the fields encoded (a
 * container's decoded config, say), so the cache follows it out of memory.
 */
export function encodeOnce(key: object, encode: () => Uint8Array): Uint8Array {
  let bytes = cache.get(key);
  if (bytes === undefined) cache.set(key, (bytes = encode()));
  return bytes;
}

/** A reply of `schema` whose repeated message field `fieldNo` holds `items`, in order. */
export function encodedList<Desc extends DescMessage>(schema: Desc, fieldNo: number, items: readonly EncodedItem[]): MessageShape<Desc> {
  const reply = create(schema) as MessageShape<Desc> & Message;
  reply.$unknown = items.map((item) => ({ no: fieldNo, wireType: WireType.LengthDelimited, data: itemBytes(item) }));
  return reply;
}

/** A length-delimited field's payload: the length, the fixed bytes, then the enum field. */
function itemBytes({ fixed, enumField, enumValue }: EncodedItem): Uint8Array {
  const tail = enumValue === 0 ? new Uint8Array(0) : new BinaryWriter().uint32((enumField << 3) | WireType.Varint).int32(enumValue).finish();
  return new BinaryWriter().uint32(fixed.length + tail.length).raw(fixed).raw(tail).finish();
}
