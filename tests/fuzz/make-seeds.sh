#!/usr/bin/env bash
# Rebuilds seeds/<target>/ (committed; the regression tests replay them) from the bundled
# sample bodies and, when it is beside the repository, the shared request catalogue, plus
# hand-written typical query strings. Run it after adding a fixture; commit the result.
set -euo pipefail
cd "$(dirname "$0")"
repo=$(cd ../.. && pwd)
catalogue="${CATALOGUE_DIR:-$repo/../shared/catalogue/requests}"

rm -rf seeds
mkdir -p seeds/{query,signature,body,read_receipt,keyword_filter}
# The request target reads the body target's input format: it shares its seeds.
ln -s body seeds/request

bodies=("$repo"/crates/chathook-protocol/samples/requests/*.json)
if [ -d "$catalogue" ]; then
  bodies+=("$catalogue"/*.json)
else
  echo "note: no catalogue at $catalogue; seeding from the bundled fixtures only" >&2
fi

declare -A done_
for file in "${bodies[@]}"; do
  name=$(basename "$file" .json)
  [ -n "${done_[$name]:-}" ] && cmp -s "$file" "${done_[$name]}" && continue
  tag=$name
  [ -n "${done_[$name]:-}" ] && tag="$name.catalogue"
  done_[$name]=$file
  { printf '%s\n' "$name"; cat "$file"; } > "seeds/body/$tag"
  case "$name" in
    Group.CallbackAfterReadReceipt) cp "$file" "seeds/read_receipt/$tag.json" ;;
    *.CallbackBeforeSendMsg)
      { printf 'spam|坏话\n'; cat "$file"; } > "seeds/keyword_filter/$tag"
      ;;
  esac
done

# Bodies the checks must refuse, and edge cases of the models.
printf 'X.Y\n[1,2]' > seeds/body/not-an-object
printf 'X.Y\n{"CallbackCommand":"X.Z"}' > seeds/body/mismatch
printf 'X.Y\n{"CallbackCommand":5}' > seeds/body/command-not-a-string
printf 'X.Y\n{"a":\n1,}' > seeds/body/trailing-comma
printf 'X.Y\n{"CallbackCommand":"X.Y","CallbackCommand":"X.Y"}' > seeds/body/duplicate-command
printf '%s' '{"GroupId":"g","Type":"SomethingNew","Extra":[1],"GroupMsgReceiptList":[{"MsgSeq":"7","ReadNum":1,"UnreadNum":2},{"MsgSeq":8,"ReadReceiptMembers":[]},{"MsgSeq":9,"ReadReceiptMembers":null},{"MsgSeq":7,"ReadNum":3,"UnreadNum":0,"ReadReceiptMembers":[{"Member_Account":"a"}]}],"EventTime":"1670574414123"}' > seeds/read_receipt/lenient.json
printf '%s' '{"GroupId":"g","GroupMsgReceiptList":[{"MsgSeq":1},{"MsgSeq":2,"UnreadNum":-1}]}' > seeds/read_receipt/negative-count.json
printf '%s' '{"GroupId":"g","GroupMsgReceiptList":[],"EventTime":null}' > seeds/read_receipt/empty.json
printf '%s\n%s' 'SPAM|Bad Word' '{"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"Spam and bad word, spam!"}},{"MsgType":"TIMImageElem","MsgContent":{"UUID":"spam","ImageFormat":1}},{"MsgType":"TIMTextElem","MsgContent":{"Text":5}}]}' > seeds/keyword_filter/mixed-elements
printf '%s\n%s' 'ab|bc' '{"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"abc ABC aBc"}}]}' > seeds/keyword_filter/overlapping

# Typical query strings, as Chat appends them to the callback URL.
i=0
while IFS= read -r line; do
  printf '%s' "$line" > "seeds/query/$(printf '%02d' $i)"
  i=$((i + 1))
done <<'QUERIES'
SdkAppid=1400000000&CallbackCommand=Group.CallbackAfterReadReceipt&contenttype=json&ClientIP=$ClientIP&OptPlatform=$OptPlatform
SdkAppid=1400000000&CallbackCommand=C2C.CallbackBeforeSendMsg&contenttype=json&ClientIP=203.0.113.7&OptPlatform=iOS&Sign=17773bc39a671d7b9aa835458704d2a6db81360a5940292b587d6d760d484061&RequestTime=1669872112
sdkappid=14&CALLBACKCOMMAND=State.StateChange&x=1
SdkAppId=1&SdkAppid=2
SdkAppid=abc
SdkAppid=18446744073709551616&RequestTime=9223372036854775808
SdkAppid=%31%34&CallbackCommand=Group%2ECallbackAfterSendMsg&Sign=&RequestTime=+5
CallbackCommand=a+b&OptPlatform=%E4%BD%A0&ClientIP=%zz&&=&Sign
QUERIES

# Signature inputs: now, max skew, tokens (tab-separated), query string.
sig() { printf '%s\n%s\n%s\n%s' "$@" > "seeds/signature/$(printf '%02d' $i)"; i=$((i + 1)); }
i=0
vector='17773bc39a671d7b9aa835458704d2a6db81360a5940292b587d6d760d484061'
sig 1669872112 60 xxxxyyyy "SdkAppid=1&Sign=$vector&RequestTime=1669872112"
sig 1669872172 60 "$(printf 'old-token\txxxxyyyy')" "SdkAppid=1&Sign=$vector&RequestTime=1669872112"
sig 1669872173 60 xxxxyyyy "SdkAppid=1&Sign=$vector&RequestTime=1669872112"
sig 1669872112 60 xxxxyyyy "SdkAppid=1&Sign=${vector^^}&RequestTime=1669872112"
sig 1669872112 60 xxxxyyyy "SdkAppid=1&Sign=$vector&RequestTime=01669872112"
sig 0 18446744073709551615 token "Sign=00&RequestTime=9223372036854775807"
sig 9223372036854775807 0 token "Sign=00&RequestTime=0"
sig 1669872112 60 "" "SdkAppid=1"
sig 1669872112 60 token "SdkAppid=1&RequestTime=1669872112"
sig 1669872112 60 token "SdkAppid=1&Sign=$vector"

echo "seeds: $(find seeds -type f | wc -l) files"
