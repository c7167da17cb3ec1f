"""Drives the Pond WeCom simulator with an unmodified third-party SDK (wechatpy 1.8.18).

wechatpy hard-codes https://qyapi.weixin.qq.com for gettoken, so its requests session gets a
transport adapter that sends that host to the simulator - the same as pointing DNS at it. No
wechatpy code is changed. Also opens one simulator callback with wechatpy's own crypto.

usage: python wechatpy_sdk.py SIM_BASE_URL CORP_ID APP_SECRET [TOKEN AES_KEY SIG TS NONCE XML_FILE]
Prints one JSON line with what it did; exits non-zero on any failure.
"""
import json
import sys

import requests
from wechatpy.enterprise import WeChatClient
from wechatpy.enterprise.crypto import WeChatCrypto


class ToSimulator(requests.adapters.HTTPAdapter):
    def __init__(self, base):
        super().__init__()
        self.base = base.rstrip("/")

    def send(self, request, **kwargs):
        request.url = request.url.replace("https://qyapi.weixin.qq.com", self.base, 1)
        return super().send(request, **kwargs)


def main():
    base, corp_id, secret = sys.argv[1:4]
    client = WeChatClient(corp_id, secret)
    client.API_BASE_URL = base.rstrip("/") + "/cgi-bin/"
    client._http.mount("https://qyapi.weixin.qq.com", ToSimulator(base))
    done = {}

    token = client.access_token
    assert token and len(token) >= 16, token
    done["token"] = True

    users = client.user.list(1, fetch_child=True)
    assert len(users) > 0 and all("userid" in u for u in users)
    done["users"] = len(users)

    follow = client.external_contact.get_follow_user_list()["follow_user"]
    userid = follow[0]
    customers = client.external_contact.list(userid)["external_userid"]
    detail = client.external_contact.get(customers[0])
    assert detail["external_contact"]["external_userid"] == customers[0]
    assert any(f["userid"] == userid for f in detail["follow_user"])
    done["customers_of_first_user"] = len(customers)

    tags = client.external_contact.get_corp_tag_list()["tag_group"]
    before = sum(len(g["tag"]) for g in tags)
    added = client.external_contact.add_corp_tag(None, "互通测试", 1, [{"name": "来自wechatpy"}])["tag_group"]
    tag_id = added["tag"][0]["id"]
    client.external_contact.edit_corp_tag(tag_id, "wechatpy改名", 2)
    client.external_contact.mark_tag(userid, customers[0], add_tag=[tag_id])
    renamed = client.external_contact.get_corp_tag_list([tag_id])["tag_group"]
    assert renamed[0]["tag"][0]["name"] == "wechatpy改名", renamed
    client.external_contact.del_corp_tag(tag_id=[tag_id])
    after = sum(len(g["tag"]) for g in client.external_contact.get_corp_tag_list()["tag_group"])
    assert after == before, (before, after)
    done["tag_crud"] = True

    way = client.external_contact.add_contact_way(2, 2, remark="wechatpy", state="interop", user=[userid])
    config_id = way["config_id"]
    got = client.external_contact.get_contact_way(config_id)["contact_way"]
    assert got["state"] == "interop" and got["user"] == [userid], got
    client.external_contact.update_contact_way(config_id, "wechatpy2", state="interop2", user=[userid, follow[1]])
    got = client.external_contact.get_contact_way(config_id)["contact_way"]
    assert got["state"] == "interop2" and len(got["user"]) == 2, got
    client.external_contact.del_contact_way(config_id)
    try:
        client.external_contact.get_contact_way(config_id)
        raise AssertionError("deleted contact way still readable")
    except Exception as e:  # wechatpy raises WeChatClientException with errcode
        assert getattr(e, "errcode", None) == 41044, e  # 无效的「联系我」config_id参数 (errcode table, 90313)
    done["contact_way_crud"] = True

    if len(sys.argv) > 4:
        cb_token, aes_key, sig, ts, nonce, xml_file = sys.argv[4:10]
        with open(xml_file, encoding="utf-8") as f:
            envelope = f.read()
        crypto = WeChatCrypto(cb_token, aes_key, corp_id)
        plain = crypto.decrypt_message(envelope, sig, ts, nonce)
        done["callback_event"] = plain.decode() if isinstance(plain, bytes) else plain

    print(json.dumps(done, ensure_ascii=False))


if __name__ == "__main__":
    main()
