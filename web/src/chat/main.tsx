import { render } from "preact";
import "./chat.css";
import { ChatPage } from "./ChatPage";

const root = document.getElementById("chat");
if (root) render(<ChatPage />, root);
