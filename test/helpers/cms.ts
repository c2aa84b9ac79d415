import * as asn1js from 'asn1js'

/**
 * The per-message parts of a CMS message, read with asn1js rather than with our own encoder's
 * model, so a test can compare them across messages.
 */
export interface EnvelopeParts {
  /** contentEncryptionAlgorithm's OID. */
  contentEncryption: string
  /** The IV (CBC) or the GCM nonce, from the algorithm's parameters. */
  iv: Buffer
  /** encryptedContent, when it is one primitive [0] (DER); undefined for constructed (chunked BER) content. */
  encryptedContent?: Buffer
  /** encryptedKey of every KeyTransRecipientInfo (RSA receivers), in message order. */
  keyTransport: Buffer[]
  /** originator public key and encryptedKeys of every KeyAgreeRecipientInfo (EC receivers). */
  keyAgreement: Array<{ ephemeralKey: Buffer; encryptedKeys: Buffer[] }>
}

type Block = asn1js.AsnType
const UNIVERSAL = 1,
  CONTEXT = 3
const SEQUENCE = 16,
  SET = 17,
  OCTET_STRING = 4

const children = (block: Block): Block[] => (block.valueBlock as { value?: Block[] }).value ?? []
const is = (block: Block, tagClass: number, tagNumber: number) =>
  block.idBlock.tagClass === tagClass && block.idBlock.tagNumber === tagNumber
const octets = (block: Block) => Buffer.from((block.valueBlock as { valueHexView: Uint8Array }).valueHexView)
const find = (blocks: Block[], tagClass: number, tagNumber: number, what: string) => {
  const found = blocks.find((b) => is(b, tagClass, tagNumber))
  if (!found) throw new Error(`no ${what} in the CMS message`)
  return found
}

/**
 * ContentInfo ::= SEQUENCE { contentType, content [0] EXPLICIT EnvelopedData / AuthEnvelopedData }
 * EnvelopedData ::= SEQUENCE { version, originatorInfo [0] OPTIONAL, recipientInfos SET OF RecipientInfo,
 *   encryptedContentInfo SEQUENCE { contentType, contentEncryptionAlgorithm, encryptedContent [0] }, ... }
 * (RFC 5652 §6.1; AuthEnvelopedData, RFC 5083, has the same first fields.)
 */
export function envelopeParts(cms: Buffer): EnvelopeParts {
  const parsed = asn1js.fromBER(new Uint8Array(cms))
  if (parsed.offset === -1) throw new Error(`not BER: ${parsed.result.error}`)
  const envelope = children(children(parsed.result)[1]!)[0]!
  const fields = children(envelope)
  const recipientInfos = find(fields, UNIVERSAL, SET, 'recipientInfos')
  const contentInfo = fields.slice(fields.indexOf(recipientInfos) + 1).find((b) => is(b, UNIVERSAL, SEQUENCE))
  if (!contentInfo) throw new Error('no encryptedContentInfo in the CMS message')
  const [, algorithm, content] = children(contentInfo)
  const [oid, params] = children(algorithm!)
  // CBC: the parameters are the IV (OCTET STRING); GCM: GCMParameters ::= SEQUENCE { aes-nonce OCTET STRING, ... }
  const iv = is(params!, UNIVERSAL, OCTET_STRING) ? params! : find(children(params!), UNIVERSAL, OCTET_STRING, 'nonce')

  const keyTransport: Buffer[] = []
  const keyAgreement: EnvelopeParts['keyAgreement'] = []
  for (const info of children(recipientInfos)) {
    const parts = children(info)
    // KeyTransRecipientInfo ::= SEQUENCE { version, rid, keyEncryptionAlgorithm, encryptedKey OCTET STRING }
    if (is(info, UNIVERSAL, SEQUENCE)) keyTransport.push(octets(parts[parts.length - 1]!))
    // KeyAgreeRecipientInfo ::= [1] { version, originator [0], ukm [1] OPTIONAL, keyEncryptionAlgorithm,
    //   recipientEncryptedKeys SEQUENCE OF SEQUENCE { rid, encryptedKey OCTET STRING } }
    else if (is(info, CONTEXT, 1))
      keyAgreement.push({
        ephemeralKey: Buffer.from(find(parts, CONTEXT, 0, 'originator').toBER(false)),
        encryptedKeys: children(parts[parts.length - 1]!).map((key) => octets(children(key)[1]!)),
      })
    else throw new Error(`unexpected RecipientInfo tag ${info.idBlock.tagClass}/${info.idBlock.tagNumber}`)
  }
  return {
    contentEncryption: (oid as asn1js.ObjectIdentifier).valueBlock.toString(),
    iv: octets(iv),
    encryptedContent: content && !content.idBlock.isConstructed ? octets(content) : undefined,
    keyTransport,
    keyAgreement,
  }
}
