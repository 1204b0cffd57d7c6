def test_import():
    from channels.wechat import WeChatInput
    assert WeChatInput.name() == "wechat"
